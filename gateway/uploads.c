/* POST /api/uploads and GET /uploads/{name}.
 *
 * An upload streams: the multipart body is parsed as it arrives
 * (multipart.c), the "file" part's first 12 bytes decide its type (never
 * its name or declared type), and its bytes go to a temporary file in
 * UPLOAD_DIR created with O_EXCL under a random name. Nothing past
 * MAX_FILE_SIZE is ever written: the temporary file is removed the moment
 * the part grows past it, and the rest of the body is read and dropped to
 * answer 413. Once the body is in, the token is verified (auth daemon);
 * then the file is synced and linked under its final name, 32 random hex
 * digits and the extension of its type. The client's file name never
 * reaches the file system. A file is served only under such a name,
 * opened relative to UPLOAD_DIR without following links, with a policy
 * that keeps a browser from running anything in it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bp.h"
#include "config.h"
#include "log.h"
#include "gw_multipart.h"
#include "gw_proxy.h"
#include "gw_respond.h"
#include "gw_uploads.h"

#define UPLOAD_SIZE_DEFAULT 5242880L
#define UPLOAD_SIZE_MAX     (100L * 1024 * 1024)
/* Multipart framing (delimiters, part headers, small fields) a body may
 * carry on top of the file itself. */
#define UPLOAD_FRAMING   (64 * 1024)
#define NAME_HEX         32 /* hex digits of a stored name (128 random bits) */
#define TEMP_PREFIX      ".upload-"
#define TEMP_SUFFIX      ".part"
#define TEMP_STALE_S     3600 /* a temporary file this old is a crash's leftover */
#define BASE_URL_MAX     512
#define CACHE_CONTROL    "public, max-age=604800, immutable"
#define CONTENT_SECURITY "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"

typedef struct {
    const char *mime;
    const char *ext;
    const char *label; /* in messages */
} upload_type;

static const upload_type types[] = {
    {"image/jpeg", "jpg", "JPEG"},
    {"image/png", "png", "PNG"},
    {"image/webp", "webp", "WebP"},
};

static struct {
    long max_size;
    int dir_fd;
    bool allowed[BP_COUNTOF(types)];
    char base_url[BASE_URL_MAX]; /* PUBLIC_BASE_URL without a trailing '/', or "" */
    char too_large[128];         /* the 413 message */
    char wrong_type[192];        /* the 415 message */
} cfg = {.max_size = UPLOAD_SIZE_DEFAULT, .dir_fd = -1};

/* One upload in progress: req->op_state. */
typedef struct {
    gw_multipart *mp;
    int status;          /* a refusal, answered once the body is read; or 0 */
    const char *message; /* its message (static or cfg's) */
    const char *field;
    uint64_t received; /* body bytes read */
    uint64_t drained;  /* body bytes dropped after a refusal */
    bool in_file;      /* the current part is "file" */
    bool file_seen;
    uint64_t size; /* bytes of the file part */
    unsigned char head[GW_UPLOAD_SNIFF_LEN];
    size_t head_len;
    const upload_type *type; /* once the head decided it */
    int fd;                  /* the temporary file, or -1 */
    bool temp_exists;
    char temp[sizeof TEMP_PREFIX + NAME_HEX + sizeof TEMP_SUFFIX];
    char url[BASE_URL_MAX + 64];
} upload;

/* ---- types and names ---------------------------------------------------- */

static const upload_type *sniff(const unsigned char *h, size_t n)
{
    static const unsigned char png[8] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};
    if (n < GW_UPLOAD_SNIFF_LEN)
        return NULL;
    if (h[0] == 0xff && h[1] == 0xd8 && h[2] == 0xff)
        return &types[0];
    if (memcmp(h, png, sizeof png) == 0)
        return &types[1];
    if (memcmp(h, "RIFF", 4) == 0 && memcmp(h + 8, "WEBP", 4) == 0)
        return &types[2];
    return NULL;
}

const char *gw_upload_sniff(const unsigned char *head, size_t n)
{
    const upload_type *t = sniff(head, n);
    return t != NULL ? t->mime : NULL;
}

/* The type of a stored file's name, or NULL when it is not one. */
static const upload_type *name_type(const char *name)
{
    for (size_t i = 0; i < NAME_HEX; i++)
        if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
            return NULL;
    if (name[NAME_HEX] != '.')
        return NULL;
    for (size_t i = 0; i < BP_COUNTOF(types); i++)
        if (strcmp(name + NAME_HEX + 1, types[i].ext) == 0)
            return &types[i];
    return NULL;
}

bool gw_upload_name_valid(const char *name)
{
    return name != NULL && name_type(name) != NULL;
}

/* Writes NAME_HEX random hex digits and a NUL into out. */
static int random_hex(char out[NAME_HEX + 1])
{
    unsigned char bytes[NAME_HEX / 2];
    size_t got = 0;
    while (got < sizeof bytes) {
        ssize_t n = getrandom(bytes + got, sizeof bytes - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return BP_EIO;
        got += (size_t)n;
    }
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof bytes; i++) {
        out[2 * i] = hex[bytes[i] >> 4];
        out[2 * i + 1] = hex[bytes[i] & 0x0f];
    }
    out[NAME_HEX] = '\0';
    return 0;
}

/* ---- configuration ------------------------------------------------------- */

static void size_text(long n, char *out, size_t len)
{
    if (n % (1024 * 1024) == 0)
        snprintf(out, len, "%ld MiB", n / (1024 * 1024));
    else if (n % 1024 == 0)
        snprintf(out, len, "%ld KiB", n / 1024);
    else
        snprintf(out, len, "%ld bytes", n);
}

/* The index in types of the MIME type s[0..len) (any case), or -1. */
static int type_index(const char *s, size_t len)
{
    for (size_t i = 0; i < BP_COUNTOF(types); i++)
        if (strlen(types[i].mime) == len && strncasecmp(types[i].mime, s, len) == 0)
            return (int)i;
    return -1;
}

static void configure_types(void)
{
    const char *list = bp_config_str("ALLOWED_FILE_TYPES", "image/jpeg,image/png,image/webp");
    const char *p = list;
    size_t count = 0;
    memset(cfg.allowed, 0, sizeof cfg.allowed);
    while (*p != '\0') {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        const char *s = p;
        p += len + (comma != NULL ? 1 : 0);
        while (len > 0 && (*s == ' ' || *s == '\t'))
            s++, len--;
        while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
            len--;
        if (len == 0)
            continue;
        int i = type_index(s, len);
        if (i < 0) {
            bp_config_fail("ALLOWED_FILE_TYPES", "expected a comma-separated list of image/jpeg, "
                                                 "image/png and image/webp");
        } else {
            count += cfg.allowed[i] ? 0 : 1;
            cfg.allowed[i] = true;
        }
    }
    if (count == 0)
        bp_config_fail("ALLOWED_FILE_TYPES", "lists no type (image/jpeg, image/png, image/webp)");

    /* "JPEG, PNG o WebP": the allowed ones, in Spanish. */
    char labels[64] = "";
    size_t used = 0, listed = 0;
    for (size_t i = 0; i < BP_COUNTOF(types); i++) {
        if (!cfg.allowed[i])
            continue;
        const char *sep = listed == 0 ? "" : listed + 1 == count ? " o " : ", ";
        used += (size_t)snprintf(labels + used, sizeof labels - used, "%s%s", sep, types[i].label);
        listed++;
    }
    snprintf(cfg.wrong_type, sizeof cfg.wrong_type,
             "El archivo tiene que ser una imagen %s; se reconoce por su contenido.", labels);
}

/* mkdir -p with mode 0750 for what is missing; exits naming UPLOAD_DIR. */
static void make_dirs(const char *path)
{
    char buf[4096];
    char why[256];
    size_t len = strlen(path);
    if (len >= sizeof buf)
        bp_config_fail("UPLOAD_DIR", "is too long");
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char saved = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0750) != 0 && errno != EEXIST) {
            snprintf(why, sizeof why, "cannot create %.200s: %s", buf, strerror(errno));
            bp_config_fail("UPLOAD_DIR", why);
        }
        buf[i] = saved;
    }
}

/* Removes temporary files a crashed gateway left behind (another instance
 * sharing the folder may be writing recent ones). */
static void sweep_stale(void)
{
    int fd = dup(cfg.dir_fd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        return;
    }
    time_t now = time(NULL);
    const struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        struct stat st;
        if (strncmp(e->d_name, TEMP_PREFIX, sizeof TEMP_PREFIX - 1) != 0 ||
            fstatat(cfg.dir_fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
            now - st.st_mtime < TEMP_STALE_S)
            continue;
        if (unlinkat(cfg.dir_fd, e->d_name, 0) == 0)
            bp_log_info("uploads: removed the stale temporary file %s", e->d_name);
    }
    closedir(d);
}

void gw_uploads_configure(void)
{
    cfg.max_size = bp_config_int("MAX_FILE_SIZE", UPLOAD_SIZE_DEFAULT, 1, UPLOAD_SIZE_MAX);
    char size[32];
    size_text(cfg.max_size, size, sizeof size);
    snprintf(cfg.too_large, sizeof cfg.too_large, "El archivo supera el máximo de %s.", size);

    configure_types();

    const char *base = bp_config_str("PUBLIC_BASE_URL", "");
    size_t blen = strlen(base);
    while (blen > 0 && base[blen - 1] == '/')
        blen--;
    bool base_ok = blen < sizeof cfg.base_url;
    for (size_t i = 0; base_ok && i < blen; i++)
        base_ok = (unsigned char)base[i] > 0x20 && base[i] != 0x7f;
    if (blen > 0 &&
        (!base_ok || (strncmp(base, "http://", 7) != 0 && strncmp(base, "https://", 8) != 0)))
        bp_config_fail("PUBLIC_BASE_URL", "expected an http:// or https:// URL without spaces, "
                                          "under 512 characters");
    memcpy(cfg.base_url, base, blen);
    cfg.base_url[blen] = '\0';

    const char *dir = bp_config_str("UPLOAD_DIR", "./uploads");
    make_dirs(dir);
    if (cfg.dir_fd >= 0)
        close(cfg.dir_fd);
    cfg.dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cfg.dir_fd < 0 || access(dir, W_OK | X_OK) != 0) {
        char why[256];
        snprintf(why, sizeof why, "%.200s is not a folder this process can write to: %s", dir,
                 strerror(errno));
        bp_config_fail("UPLOAD_DIR", why);
    }
    sweep_stale();
}

/* ---- the upload ----------------------------------------------------------- */

/* Closes and removes the temporary file, if any. */
static void discard_file(upload *up)
{
    if (up->fd >= 0) {
        close(up->fd);
        up->fd = -1;
    }
    if (up->temp_exists) {
        if (unlinkat(cfg.dir_fd, up->temp, 0) != 0 && errno != ENOENT)
            bp_log_warn("uploads: cannot remove %s: %s", up->temp, strerror(errno));
        up->temp_exists = false;
    }
}

/* Remembers the first refusal, to answer once the body is read (the rest
 * of which is dropped), and lets go of the file at once. Returns
 * BP_EREPLIED, which stops the multipart parser. */
static int refuse(gw_request *req, int status, const char *message, const char *field)
{
    upload *up = req->op_state;
    if (up->status == 0) {
        up->status = status;
        up->message = message;
        up->field = field;
    }
    discard_file(up);
    req->closing = true;
    return BP_EREPLIED;
}

static int temp_create(gw_request *req, upload *up)
{
    for (int attempt = 0; attempt < 4; attempt++) {
        char hex[NAME_HEX + 1];
        if (random_hex(hex) != 0) {
            bp_log(BP_LOG_ERROR, req->request_id, "uploads: getrandom: %s", strerror(errno));
            return BP_EIO;
        }
        snprintf(up->temp, sizeof up->temp, TEMP_PREFIX "%s" TEMP_SUFFIX, hex);
        up->fd = openat(cfg.dir_fd, up->temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                        0640);
        if (up->fd >= 0) {
            up->temp_exists = true;
            return 0;
        }
        if (errno != EEXIST)
            break;
    }
    bp_log(BP_LOG_ERROR, req->request_id, "uploads: cannot create a file in UPLOAD_DIR: %s",
           strerror(errno));
    return BP_EIO;
}

static int write_all(gw_request *req, upload *up, const void *data, size_t n)
{
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(up->fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            bp_log(BP_LOG_ERROR, req->request_id, "uploads: writing %s: %s", up->temp,
                   w < 0 ? strerror(errno) : "nothing written");
            return refuse(req, 500, NULL, NULL);
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int on_part_begin(void *cls, const char *name)
{
    gw_request *req = cls;
    upload *up = req->op_state;
    up->in_file = name != NULL && strcmp(name, "file") == 0;
    if (!up->in_file)
        return 0; /* another field: read and ignored */
    if (up->file_seen)
        return refuse(req, 400, "Enviá un solo archivo por solicitud.", "file");
    up->file_seen = true;
    return 0;
}

static int on_part_data(void *cls, const char *data, size_t n)
{
    gw_request *req = cls;
    upload *up = req->op_state;
    if (!up->in_file)
        return 0;
    /* size <= max_size always holds: checked before anything is kept. */
    if ((uint64_t)n > (uint64_t)cfg.max_size - up->size)
        return refuse(req, 413, cfg.too_large, "file");
    up->size += n;
    if (up->type == NULL) {
        size_t take = GW_UPLOAD_SNIFF_LEN - up->head_len;
        if (take > n)
            take = n;
        memcpy(up->head + up->head_len, data, take);
        up->head_len += take;
        data += take;
        n -= take;
        if (up->head_len < GW_UPLOAD_SNIFF_LEN)
            return 0;
        const upload_type *t = sniff(up->head, up->head_len);
        if (t == NULL || !cfg.allowed[t - types])
            return refuse(req, 415, cfg.wrong_type, "file");
        up->type = t;
        if (temp_create(req, up) != 0)
            return refuse(req, 500, NULL, NULL);
        int rv = write_all(req, up, up->head, up->head_len);
        if (rv != 0)
            return rv;
    }
    return n > 0 ? write_all(req, up, data, n) : 0;
}

static int on_part_end(void *cls)
{
    gw_request *req = cls;
    upload *up = req->op_state;
    if (!up->in_file)
        return 0;
    up->in_file = false;
    if (up->size == 0)
        return refuse(req, 400, "El archivo está vacío.", "file");
    if (up->type == NULL) /* shorter than any image */
        return refuse(req, 415, cfg.wrong_type, "file");
    return 0;
}

static const gw_multipart_callbacks part_callbacks = {
    .part_begin = on_part_begin,
    .part_data = on_part_data,
    .part_end = on_part_end,
};

/* After the headers: a bearer token, a multipart body, a declared length
 * that can hold no more than MAX_FILE_SIZE of file. */
static int upload_accept(gw_request *req)
{
    if (req->token == NULL || req->token_invalid)
        return 401;
    char boundary[GW_MULTIPART_BOUNDARY_MAX + 1];
    int rv = gw_multipart_boundary(gw_request_header(req, "Content-Type"), boundary);
    if (rv == BP_ENOTFOUND) {
        req->early_message = "El archivo tiene que enviarse como multipart/form-data.";
        return 415;
    }
    if (rv != 0) {
        req->early_message = "El encabezado Content-Type multipart no tiene un boundary válido.";
        return 400;
    }
    if (req->declared_len == UINT64_MAX) {
        req->early_message = "El encabezado Content-Length no es válido.";
        return 400;
    }
    if (req->declared_len > (uint64_t)cfg.max_size + UPLOAD_FRAMING) {
        req->early_message = cfg.too_large;
        return 413;
    }
    upload *up = calloc(1, sizeof *up);
    if (up == NULL)
        return 500;
    up->fd = -1;
    req->op_state = up;
    up->mp = gw_multipart_new(boundary, &part_callbacks, req);
    return up->mp != NULL ? 0 : 500;
}

static enum MHD_Result upload_body(gw_request *req, const char *data, size_t n)
{
    upload *up = req->op_state;
    if (up->status == 0) {
        up->received += n;
        if (up->received > (uint64_t)cfg.max_size + UPLOAD_FRAMING) {
            refuse(req, 413, cfg.too_large, "file");
        } else {
            int rv = gw_multipart_feed(up->mp, data, n);
            if (rv == BP_EINVAL)
                refuse(req, 400, "El cuerpo no es multipart/form-data válido.", NULL);
            else if (rv == BP_ETOOBIG)
                refuse(req, 400,
                       "El cuerpo multipart tiene demasiadas partes o encabezados demasiado "
                       "largos.",
                       NULL);
            else if (rv != 0 && up->status == 0)
                refuse(req, 500, NULL, NULL);
            return MHD_YES;
        }
    }
    /* Refused: read and drop the rest to answer, but not for ever. */
    up->drained += n;
    return up->drained > GW_DRAIN_MAX ? MHD_NO : MHD_YES;
}

static enum MHD_Result upload_start(gw_request *req)
{
    upload *up = req->op_state;
    if (up->status != 0)
        return gw_answer_error(req, up->status, NULL, up->message, up->field);
    if (!gw_multipart_done(up->mp))
        return gw_answer_error(req, 400, "invalid_request",
                               "El cuerpo multipart/form-data está incompleto.", NULL);
    if (!up->file_seen)
        return gw_answer_error(req, 400, "invalid_request",
                               "Falta el archivo: mandalo en el campo \"file\".", "file");
    /* The caller is known only now; a bad token keeps nothing. */
    if (!gw_authenticate(req, NULL)) {
        discard_file(up);
        return gw_answer_error(req, 503, NULL, NULL, NULL);
    }
    return MHD_YES;
}

/* Makes the temporary file durable under a new random name. Fills name. */
static int commit(gw_request *req, upload *up, char *name, size_t len)
{
    if (fsync(up->fd) != 0 || close(up->fd) != 0) {
        bp_log(BP_LOG_ERROR, req->request_id, "uploads: syncing %s: %s", up->temp, strerror(errno));
        return BP_EIO;
    }
    up->fd = -1;
    for (int attempt = 0; attempt < 4; attempt++) {
        char hex[NAME_HEX + 1];
        if (random_hex(hex) != 0)
            break;
        snprintf(name, len, "%s.%s", hex, up->type->ext);
        /* A link never replaces a file that already has the name. */
        if (linkat(cfg.dir_fd, up->temp, cfg.dir_fd, name, 0) == 0) {
            discard_file(up);
            if (fsync(cfg.dir_fd) != 0)
                bp_log(BP_LOG_WARN, req->request_id, "uploads: syncing UPLOAD_DIR: %s",
                       strerror(errno));
            return 0;
        }
        if (errno != EEXIST)
            break;
    }
    bp_log(BP_LOG_ERROR, req->request_id, "uploads: storing %s: %s", up->temp, strerror(errno));
    return BP_EIO;
}

static enum MHD_Result upload_finish(gw_request *req)
{
    upload *up = req->op_state;
    enum MHD_Result answer;
    if (gw_call_failed(req, &answer)) {
        /* The answer is queued, not sent: the file is gone before it is. */
        discard_file(up);
        return answer;
    }
    char name[NAME_HEX + 8];
    if (commit(req, up, name, sizeof name) != 0) {
        discard_file(up);
        return gw_answer_error(req, 500, NULL, NULL, NULL);
    }
    snprintf(up->url, sizeof up->url, "%s/uploads/%s", cfg.base_url, name);
    bp_log(BP_LOG_INFO, req->request_id, "uploads: stored %s (%s, %" PRIu64 " bytes)", name,
           up->type->mime, up->size);
    json_t *doc = json_pack("{s:s, s:s, s:I}", "url", up->url, "content_type", up->type->mime,
                            "size_bytes", (json_int_t)up->size);
    gw_request_add_header(req, "Location", up->url);
    return gw_answer_json(req, 201, doc);
}

static void upload_cleanup(gw_request *req)
{
    upload *up = req->op_state;
    if (up == NULL)
        return;
    discard_file(up);
    gw_multipart_free(up->mp);
    free(up);
    req->op_state = NULL;
}

const gw_op gw_upload_op = {
    .accept = upload_accept,
    .body = upload_body,
    .start = upload_start,
    .finish = upload_finish,
    .cleanup = upload_cleanup,
};

/* ---- serving a stored file ------------------------------------------------ */

static const char *path_param(const gw_request *req, const char *name)
{
    for (size_t i = 0; i < req->match.n_params; i++)
        if (strcmp(req->match.params[i].name, name) == 0)
            return req->match.params[i].value;
    return NULL;
}

static enum MHD_Result file_start(gw_request *req)
{
    const char *name = path_param(req, "name");
    const upload_type *t = name != NULL ? name_type(name) : NULL;
    if (t == NULL)
        return gw_answer_error(req, 404, NULL, NULL, NULL);
    if (cfg.dir_fd < 0)
        return gw_answer_error(req, 503, NULL, NULL, NULL);

    int fd = openat(cfg.dir_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT || errno == ELOOP || errno == ENOTDIR)
            return gw_answer_error(req, 404, NULL, NULL, NULL);
        bp_log(BP_LOG_ERROR, req->request_id, "uploads: opening %s: %s", name, strerror(errno));
        return gw_answer_error(req, 500, NULL, NULL, NULL);
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > UPLOAD_SIZE_MAX) {
        close(fd);
        return gw_answer_error(req, 404, NULL, NULL, NULL);
    }
    size_t size = (size_t)st.st_size, got = 0;
    char *body = size > 0 ? malloc(size) : NULL;
    if (size > 0 && body == NULL) {
        close(fd);
        return gw_answer_error(req, 500, NULL, NULL, NULL);
    }
    while (got < size) {
        ssize_t n = pread(fd, body + got, size - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            bp_log(BP_LOG_ERROR, req->request_id, "uploads: reading %s: %s", name, strerror(errno));
            close(fd);
            free(body);
            return gw_answer_error(req, 500, NULL, NULL, NULL);
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (got == 0) {
        free(body);
        body = NULL;
    }
    gw_request_add_header(req, "Cache-Control", CACHE_CONTROL);
    gw_request_add_header(req, "Content-Security-Policy", CONTENT_SECURITY);
    return gw_answer(req, 200, body, got, t->mime);
}

/* Answers at once (the file is small and local): never suspended. */
const gw_op gw_upload_file_op = {.start = file_start, .finish = NULL};
