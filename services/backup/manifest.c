/* manifest.json: what a backup holds, so that a restore can check every
 * part before it trusts one, with no database to ask. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup.h"
#include "bp.h"

const char *const backup_part_names[BACKUP_MAX_PARTS] = {
    "database.dump",
    "base.tar.gz",
    "uploads.tar.gz",
    "config.json",
};

int backup_manifest_measure(backup_manifest *m, const char *dir, char *err, size_t len)
{
    m->n_parts = 0;
    for (size_t i = 0; i < BACKUP_MAX_PARTS; i++) {
        backup_part *p = &m->parts[m->n_parts];
        char path[PATH_MAX];
        snprintf(p->name, sizeof p->name, "%s", backup_part_names[i]);
        if (backup_path(path, sizeof path, "%s/%s", dir, p->name) != 0 ||
            bp_file_sha256(path, p->sha256, &p->size) != 0) {
            snprintf(err, len, "%s: cannot be read", p->name);
            return BP_EIO;
        }
        m->n_parts++;
    }
    return 0;
}

char *backup_manifest_json(const backup_manifest *m)
{
    json_t *parts = json_array();
    for (size_t i = 0; i < m->n_parts; i++)
        json_array_append_new(parts, json_pack("{s:s, s:I, s:s}", "name", m->parts[i].name, "size",
                                               (json_int_t)m->parts[i].size, "sha256",
                                               m->parts[i].sha256));
    json_t *versions = json_loads(m->versions[0] ? m->versions : "{}", 0, NULL);
    json_t *o =
        json_pack("{s:i, s:s, s:s, s:I, s:I, s:s, s:s, s:o, s:o}", "format", 1, "id", m->id, "kind",
                  m->kind, "created_at", (json_int_t)m->created_at, "finished_at",
                  (json_int_t)m->finished_at, "database", m->database, "wal_start", m->wal_start,
                  "versions", versions != NULL ? versions : json_object(), "parts", parts);
    char *s = o != NULL ? json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    return s;
}

static int copy_str(json_t *o, const char *key, char *out, size_t len)
{
    const char *s = json_string_value(json_object_get(o, key));
    if (s == NULL || strlen(s) >= len)
        return BP_EINVAL;
    memcpy(out, s, strlen(s) + 1);
    return 0;
}

int backup_manifest_read(const char *path, backup_manifest *m, char *err, size_t len)
{
    memset(m, 0, sizeof *m);
    json_error_t je;
    json_t *o = json_load_file(path, 0, &je);
    if (o == NULL) {
        snprintf(err, len, "%s: %s", path, je.text);
        return BP_EIO;
    }
    int rv = 0;
    json_t *parts = json_object_get(o, "parts");
    if (copy_str(o, "id", m->id, sizeof m->id) != 0 ||
        copy_str(o, "kind", m->kind, sizeof m->kind) != 0 ||
        copy_str(o, "database", m->database, sizeof m->database) != 0 ||
        copy_str(o, "wal_start", m->wal_start, sizeof m->wal_start) != 0 ||
        !json_is_integer(json_object_get(o, "created_at")) || !json_is_array(parts) ||
        json_array_size(parts) > BACKUP_MAX_PARTS)
        rv = BP_EINVAL;
    m->created_at = json_integer_value(json_object_get(o, "created_at"));
    m->finished_at = json_integer_value(json_object_get(o, "finished_at"));
    char *v = json_dumps(json_object_get(o, "versions"), JSON_COMPACT | JSON_SORT_KEYS);
    if (v != NULL && strlen(v) < sizeof m->versions)
        memcpy(m->versions, v, strlen(v) + 1);
    free(v);
    for (size_t i = 0; rv == 0 && i < json_array_size(parts); i++) {
        json_t *p = json_array_get(parts, i);
        backup_part *bp = &m->parts[i];
        json_t *size = json_object_get(p, "size");
        if (copy_str(p, "name", bp->name, sizeof bp->name) != 0 ||
            copy_str(p, "sha256", bp->sha256, sizeof bp->sha256) != 0 || !json_is_integer(size) ||
            json_integer_value(size) < 0 || strchr(bp->name, '/') != NULL)
            rv = BP_EINVAL;
        bp->size = (uint64_t)json_integer_value(size);
        m->n_parts = i + 1;
    }
    json_decref(o);
    if (rv != 0)
        snprintf(err, len, "%s: not a BarberPro backup manifest", path);
    return rv;
}

int backup_manifest_verify(const backup_manifest *m, const char *dir, char *err, size_t len)
{
    for (size_t i = 0; i < m->n_parts; i++) {
        const backup_part *p = &m->parts[i];
        char path[PATH_MAX], sha[65];
        uint64_t size;
        if (backup_path(path, sizeof path, "%s/%s", dir, p->name) != 0 ||
            bp_file_sha256(path, sha, &size) != 0) {
            snprintf(err, len, "backup %s is incomplete: %s is missing or unreadable", m->id,
                     p->name);
            return BP_EIO;
        }
        if (size != p->size || strcmp(sha, p->sha256) != 0) {
            snprintf(err, len,
                     "backup %s is damaged: %s has %llu bytes and SHA-256 %.12s..., the manifest "
                     "says %llu bytes and %.12s...",
                     m->id, p->name, (unsigned long long)size, sha, (unsigned long long)p->size,
                     p->sha256);
            return BP_EIO;
        }
    }
    return 0;
}

int64_t backup_id_time(const char *id, const bp_tz *tz)
{
    int y, mo, d, h, mi, s;
    char tail;
    if (strlen(id) != 15 ||
        sscanf(id, "%4d%2d%2d_%2d%2d%2d%c", &y, &mo, &d, &h, &mi, &s, &tail) != 6 || mo < 1 ||
        mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 59)
        return -1;
    int64_t local = (int64_t)bp_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s, utc;
    return bp_tz_local_to_utc_end(tz, local, &utc) == 0 ? utc : -1;
}
