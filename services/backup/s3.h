/* A small S3 client over libcurl (CURLOPT_AWS_SIGV4, path-style URLs), enough
 * for backups: objects up and down, listing, deleting, multipart uploads for
 * large files, and an upload that counts only once the server agrees on its
 * size and content. Every request carries x-amz-content-sha256 (the SHA-256
 * of the payload, which the server checks against the signature); Debian 12's
 * libcurl (7.88) does not add it itself and signs the query string as written,
 * so query parameters are sent sorted and encoded. Safe from any thread: a
 * bp_s3 is read-only once made. */
#ifndef BP_BACKUP_S3_H
#define BP_BACKUP_S3_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char endpoint[512]; /* scheme://host[:port], no trailing slash */
    char bucket[128];
    char region[64];
    char access_key[128];
    char secret_key[256];
    size_t part_size;     /* multipart part size in bytes (>= 5 MiB) */
    size_t multipart_min; /* files of at least this size go multipart */
    long timeout_ms;      /* per request */
} bp_s3;

/* Fills s3 from BACKUP_S3_ENDPOINT (default https://s3.<region>.amazonaws.com),
 * BACKUP_S3_BUCKET, BACKUP_S3_REGION (us-east-1), BACKUP_S3_ACCESS_KEY,
 * BACKUP_S3_SECRET_KEY, BACKUP_S3_PART_SIZE (bytes, default 16 MiB, at least
 * 5 MiB), BACKUP_S3_MULTIPART_MIN (default the part size) and
 * BACKUP_S3_TIMEOUT_MS (default 300000). Returns 0, or BP_ENOTFOUND when no
 * bucket is configured (S3 is then off and the caller keeps local copies
 * only). Exits 2 (bp_config_fail) on a malformed value or a bucket without
 * both keys. */
int bp_s3_from_env(bp_s3 *s3);

typedef struct {
    uint64_t size;
    char etag[80];         /* without quotes */
    char sha256[65];       /* x-amz-meta-sha256 when the object has it, else "" */
    int64_t last_modified; /* Unix seconds */
} bp_s3_object_info;

/* Uploads the file at path as key, with x-amz-meta-sha256: sha256_hex (the
 * SHA-256 of the whole file, hex). A single PUT below multipart_min, else a
 * multipart upload (aborted on any failure). Then verifies with HEAD: the
 * size, the metadata and the ETag (the MD5 of the file, or for multipart the
 * MD5 of the parts' MD5s followed by "-<parts>") must match, else BP_EIO.
 * Returns 0, BP_EUNAVAIL/BP_ETIMEDOUT when the server is unreachable, BP_EIO
 * for a refusal or mismatch; err (len bytes, may be NULL) receives a
 * one-line reason naming the key and the HTTP status or S3 error code. */
int bp_s3_put_file(const bp_s3 *s3, const char *key, const char *path, const char *sha256_hex,
                   char *err, size_t len);

/* Downloads key into the file at path (created or truncated; written to
 * path.part and renamed). Returns 0, BP_ENOTFOUND for a missing key, or an
 * error as above. */
int bp_s3_get_file(const bp_s3 *s3, const char *key, const char *path, char *err, size_t len);

/* HEAD of key. Returns 0, BP_ENOTFOUND, or an error as above. */
int bp_s3_head(const bp_s3 *s3, const char *key, bp_s3_object_info *info, char *err, size_t len);

/* Deletes key (a missing key is not an error). Returns 0 or an error. */
int bp_s3_delete(const bp_s3 *s3, const char *key, char *err, size_t len);

/* Calls fn for every object whose key starts with prefix (ListObjectsV2,
 * following continuation tokens), in key order; fn returns 0 to go on.
 * Returns 0, fn's non-zero value, or an error as above. */
typedef int (*bp_s3_list_fn)(const char *key, const bp_s3_object_info *info, void *arg);
int bp_s3_list(const bp_s3 *s3, const char *prefix, bp_s3_list_fn fn, void *arg, char *err,
               size_t len);

/* SHA-256 (hex) and size of the file at path, read in chunks. Returns 0 or
 * BP_EIO. */
int bp_file_sha256(const char *path, char hex[65], uint64_t *size);

#endif
