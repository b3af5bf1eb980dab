/* The backup daemon's settings, read once at start. */
#include <glob.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "backup.h"
#include "bp.h"
#include "config.h"
#include "log.h"

backup_ctx backup_config;

/* A folder setting made absolute, defaulting to <BARBERPRO_VAR_DIR>/<sub>. */
static void folder(const char *name, const char *sub, char *out, size_t len)
{
    const char *v = bp_config_str(name, NULL);
    char tmp[PATH_MAX];
    if (v == NULL) {
        if (snprintf(tmp, sizeof tmp, "%s/%s", bp_config_str("BARBERPRO_VAR_DIR", "./var"), sub) >=
            (int)sizeof tmp)
            bp_config_fail(name, "is too long");
        v = tmp;
    }
    char cwd[PATH_MAX];
    int n = v[0] == '/' || getcwd(cwd, sizeof cwd) == NULL ? snprintf(out, len, "%s", v)
                                                           : snprintf(out, len, "%s/%s", cwd, v);
    if (n < 0 || (size_t)n >= len)
        bp_config_fail(name, "is too long");
}

/* PG_BIN, else the newest installed server's bin folder, else "" (PATH). */
static void pg_bin(char *out, size_t len)
{
    const char *v = bp_config_str("PG_BIN", NULL);
    out[0] = '\0';
    if (v != NULL) {
        if ((size_t)snprintf(out, len, "%s", v) >= len)
            bp_config_fail("PG_BIN", "is too long");
        return;
    }
    glob_t g;
    if (glob("/usr/lib/postgresql/*/bin/pg_dump", 0, NULL, &g) == 0) {
        /* Version folders sort as numbers: the longest, then the greatest. */
        const char *best = NULL;
        for (size_t i = 0; i < g.gl_pathc; i++)
            if (best == NULL || strlen(g.gl_pathv[i]) > strlen(best) ||
                (strlen(g.gl_pathv[i]) == strlen(best) && strcmp(g.gl_pathv[i], best) > 0))
                best = g.gl_pathv[i];
        if (best != NULL && strlen(best) - strlen("/pg_dump") < len)
            snprintf(out, len, "%.*s", (int)(strlen(best) - strlen("/pg_dump")), best);
        globfree(&g);
    }
}

void backup_config_load(backup_ctx *c)
{
    memset(c, 0, sizeof *c);
    folder("BACKUP_LOCAL_DIR", "backups", c->local_dir, sizeof c->local_dir);
    folder("UPLOAD_DIR", "uploads", c->upload_dir, sizeof c->upload_dir);
    pg_bin(c->pg_bin, sizeof c->pg_bin);
    snprintf(c->pg_os_user, sizeof c->pg_os_user, "%s",
             bp_config_str("BACKUP_PG_OS_USER", "postgres"));
    const char *tz = bp_config_str("TIMEZONE", "America/Argentina/Buenos_Aires");
    if (bp_tz_load(tz, &c->tz) != 0)
        bp_config_fail("TIMEZONE", "is not a known IANA time zone");
    snprintf(c->timezone, sizeof c->timezone, "%s", tz);
    const char *sched = bp_config_str("BACKUP_SCHEDULE", "0 2 * * *");
    char why[160];
    if (strlen(sched) >= sizeof c->schedule_text ||
        bp_cron_parse(sched, &c->schedule, why, sizeof why) != 0)
        bp_config_fail("BACKUP_SCHEDULE",
                       strlen(sched) >= sizeof c->schedule_text ? "is too long" : why);
    snprintf(c->schedule_text, sizeof c->schedule_text, "%s", sched);
    c->local_days = (int)bp_config_int("BACKUP_LOCAL_RETENTION_DAYS", 7, 1, 3650);
    c->s3_days = (int)bp_config_int("BACKUP_S3_RETENTION_DAYS", 30, 1, 3650);
    c->archive_days = (int)bp_config_int("BACKUP_ARCHIVE_RETENTION_DAYS", 365, 1, 36500);
    c->s3_on = bp_s3_from_env(&c->s3) == 0;
}
