/* `barberpro-backup wal-push <file>`: PostgreSQL's archive_command
 * (archive_command = 'barberpro-backup wal-push %p'). Keeps each WAL file,
 * gzip'd, in BACKUP_LOCAL_DIR/wal/ and in the bucket under wal/, and exits
 * 0 only when both hold it, so PostgreSQL retries a file that did not get
 * through and never recycles one that is not safe. It runs as the
 * server's user, with the server's environment. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "backup.h"
#include "bp.h"
#include "log.h"

/* Whether the archived copy at gz holds exactly the file at src. */
static int same_content(const char *src, const char *gz, bool *same, char *err, size_t len)
{
    char tmp[PATH_MAX], a[65], b[65];
    uint64_t na, nb;
    if (backup_path(tmp, sizeof tmp, "%s.check", gz) != 0)
        return BP_ETOOBIG;
    int rv = backup_gunzip_file(gz, tmp, err, len);
    if (rv == 0 && (bp_file_sha256(src, a, &na) != 0 || bp_file_sha256(tmp, b, &nb) != 0)) {
        snprintf(err, len, "cannot read %s", src);
        rv = BP_EIO;
    }
    unlink(tmp);
    *same = rv == 0 && na == nb && strcmp(a, b) == 0;
    return rv;
}

static int push(const char *src, char *err, size_t len)
{
    const char *name = strrchr(src, '/');
    name = name != NULL ? name + 1 : src;
    if (name[0] == '\0' || strlen(name) > 64) {
        snprintf(err, len, "%s is not a WAL file name", src);
        return BP_EINVAL;
    }
    char dir[PATH_MAX], gz[PATH_MAX], key[128], sha[65];
    if (backup_path(dir, sizeof dir, "%s/wal", backup_config.local_dir) != 0 ||
        backup_path(gz, sizeof gz, "%s/%s.gz", dir, name) != 0 ||
        backup_path(key, sizeof key, "wal/%s.gz", name) != 0)
        return BP_ETOOBIG;
    if (backup_mkdirs(dir, 0700) != 0) {
        snprintf(err, len, "cannot create %s: %s", dir, strerror(errno));
        return BP_EIO;
    }
    int rv = 0;
    if (access(gz, F_OK) == 0) {
        /* Archived before (PostgreSQL retries after a failure further on):
         * the same content is fine, another is never overwritten. */
        bool same;
        rv = same_content(src, gz, &same, err, len);
        if (rv == 0 && !same) {
            snprintf(err, len, "%s is already archived with other content; refusing to overwrite",
                     name);
            rv = BP_ECONFLICT;
        }
    } else {
        rv = backup_gzip_file(src, gz, err, len);
    }
    if (rv != 0 || !backup_config.s3_on)
        return rv;
    uint64_t size;
    if (bp_file_sha256(gz, sha, &size) != 0) {
        snprintf(err, len, "cannot read %s", gz);
        return BP_EIO;
    }
    bp_s3_object_info info;
    if (bp_s3_head(&backup_config.s3, key, &info, err, len) == 0 && strcmp(info.sha256, sha) == 0)
        return 0;
    return bp_s3_put_file(&backup_config.s3, key, gz, sha, err, len);
}

int backup_command_wal_push(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: barberpro-backup wal-push <wal file> (archive_command = "
                        "'barberpro-backup wal-push %%p')\n");
        return 2;
    }
    backup_config_load(&backup_config);
    char err[3 * PATH_MAX] = "";
    int rv = push(argv[1], err, sizeof err);
    if (rv != 0) {
        bp_log_error("wal-push %s: %s", argv[1], err);
        return 1;
    }
    bp_log_debug("archived %s", argv[1]);
    return 0;
}
