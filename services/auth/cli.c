/* Subcommands for operators: `create-user` (password on stdin) and
 * `demo-data`. Both use the daemon's environment (DATABASE_URL, REDIS_URL,
 * BCRYPT_SALT_ROUNDS) and the code path of the start-up admin. Exit status:
 * 0 done, 1 the database failed, 2 bad arguments or input. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "accounts.h"
#include "auth.h"
#include "bp.h"
#include "config.h"
#include "kv.h"
#include "log.h"
#include "passwords.h"

#define CREATE_USER_USAGE                                                                          \
    "usage: barberpro-auth create-user --email E --name N --role admin|owner|provider|client\n"    \
    "       (the password is read from stdin, one line)\n"

/* Longest password line read from stdin. */
#define PASSWORD_LINE_MAX 1024

/* The demo accounts, with ids other services' demo data refers to. */
static const struct {
    const char *id, *email, *name, *phone, *role;
    bool whatsapp;
} DEMO[] = {
    {"0d0e0000-0000-4000-8000-000000000001", "owner@demo.barberpro.com.ar", "Sofía Duarte",
     "+5491145550001", "owner", false},
    {"0d0e0000-0000-4000-8000-000000000002", "martin@demo.barberpro.com.ar", "Martín Gómez",
     "+5491145550002", "provider", false},
    {"0d0e0000-0000-4000-8000-000000000003", "lucas@demo.barberpro.com.ar", "Lucas Fernández",
     "+5491145550003", "provider", false},
    {"0d0e0000-0000-4000-8000-000000000004", "cliente@demo.barberpro.com.ar", "Camila Rodríguez",
     "+5491145550004", "client", true},
};
static const char DEMO_PASSWORD[] = "BarberPro2026";

static const char *result_name(auth_account_result r)
{
    switch (r) {
    case AUTH_ACCOUNT_CREATED:
        return "created";
    case AUTH_ACCOUNT_UPDATED:
        return "updated";
    default:
        return "unchanged";
    }
}

/* Reads one line from stdin into out, without echo on a terminal. Returns
 * 0, or BP_EINVAL for no line, an empty one or one too long. */
static int read_password(char *out, size_t len)
{
    struct termios old, quiet;
    bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
    if (tty) {
        fputs("Password: ", stderr);
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    char *line = fgets(out, (int)len, stdin);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    if (line == NULL)
        return BP_EINVAL;
    size_t n = strlen(out);
    if (n > 0 && out[n - 1] == '\n')
        out[--n] = '\0';
    else if (!feof(stdin))
        return BP_EINVAL; /* longer than the buffer */
    if (n > 0 && out[n - 1] == '\r')
        out[--n] = '\0';
    return n > 0 ? 0 : BP_EINVAL;
}

/* Opens what the subcommands need: the database (migrated) and, when
 * REDIS_URL is set, Redis for ending sessions. */
static int open_stores(const bp_daemon *d, bp_db **db, bp_kv **kv)
{
    long cost = bp_config_int("BCRYPT_SALT_ROUNDS", AUTH_BCRYPT_COST_DEFAULT, AUTH_BCRYPT_COST_MIN,
                              AUTH_BCRYPT_COST_MAX);
    auth_passwords_set_cost((int)cost);
    *kv = NULL;
    if (bp_daemon_open_db(d, db) != 0) {
        fprintf(stderr, "barberpro-auth: the database is not reachable (DATABASE_URL)\n");
        return 1;
    }
    const char *redis = bp_config_str("REDIS_URL", NULL);
    if (redis != NULL && bp_kv_open(redis, kv) != 0)
        *kv = NULL;
    return 0;
}

/* Prints what went wrong with an account and returns the exit status. */
static int report_failure(const char *email, int rv, const char *field, const char *why)
{
    if (rv == BP_EINVAL) {
        fprintf(stderr, "barberpro-auth: %s: %s\n", field != NULL ? field : "input", why);
        return 2;
    }
    if (rv == BP_ECONFLICT) {
        fprintf(stderr, "barberpro-auth: %s belongs to another account\n", email);
        return 1;
    }
    fprintf(stderr, "barberpro-auth: %s: %s\n", email, bp_strerror(rv));
    return 1;
}

static int create_user(const bp_daemon *d, int argc, char **argv)
{
    static const struct option opts[] = {
        {"email", required_argument, NULL, 'e'},
        {"name", required_argument, NULL, 'n'},
        {"role", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *email = NULL, *name = NULL, *role = NULL;
    int c;

    optind = 0; /* glibc: rescan from argv[1] (argv[0] is the subcommand) */
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'e':
            email = optarg;
            break;
        case 'n':
            name = optarg;
            break;
        case 'r':
            role = optarg;
            break;
        case 'h':
            fputs(CREATE_USER_USAGE, stdout);
            return 0;
        default:
            fprintf(stderr, "barberpro-auth: create-user: unknown or incomplete option %s\n%s",
                    argv[optind - 1], CREATE_USER_USAGE);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "barberpro-auth: create-user: unexpected argument %s\n%s", argv[optind],
                CREATE_USER_USAGE);
        return 2;
    }
    if (email == NULL || name == NULL || role == NULL) {
        fprintf(stderr, "barberpro-auth: create-user needs --email, --name and --role\n%s",
                CREATE_USER_USAGE);
        return 2;
    }

    char password[PASSWORD_LINE_MAX];
    if (read_password(password, sizeof password) != 0) {
        fprintf(stderr, "barberpro-auth: create-user: no password on stdin (one line)\n");
        return 2;
    }

    bp_db *db;
    bp_kv *kv;
    int status = open_stores(d, &db, &kv);
    if (status != 0) {
        explicit_bzero(password, sizeof password);
        return status;
    }
    auth_account a = {
        .email = email, .name = name, .role = role, .password = password, .via = "cli"};
    auth_account_result result;
    char id[37];
    const char *field, *why;
    int rv = auth_account_ensure(db, kv, &a, &result, id, &field, &why);
    explicit_bzero(password, sizeof password);
    if (rv == 0)
        printf("%s account %s (%s)\n", result_name(result), id, role);
    else
        status = report_failure(email, rv, field, why);
    bp_kv_close(kv);
    bp_db_close(db);
    return status;
}

static int demo_data(const bp_daemon *d, int argc, char **argv)
{
    (void)argv;
    if (argc > 1) {
        fprintf(stderr, "barberpro-auth: demo-data takes no arguments\n");
        return 2;
    }
    bp_db *db;
    bp_kv *kv;
    int status = open_stores(d, &db, &kv);
    if (status != 0)
        return status;
    for (size_t i = 0; i < BP_COUNTOF(DEMO) && status == 0; i++) {
        auth_account a = {
            .id = DEMO[i].id,
            .email = DEMO[i].email,
            .name = DEMO[i].name,
            .phone = DEMO[i].phone,
            .role = DEMO[i].role,
            .password = DEMO_PASSWORD,
            .via = "demo-data",
            .grant_terms = true,
            .grant_whatsapp = DEMO[i].whatsapp,
        };
        auth_account_result result;
        char id[37];
        const char *field, *why;
        int rv = auth_account_ensure(db, kv, &a, &result, id, &field, &why);
        if (rv == 0) {
            bp_log_info("demo account %s %s", DEMO[i].email, result_name(result));
            /* The login line `make run` shows. */
            printf("%-8s %-30s %s  (%s)\n", DEMO[i].role, DEMO[i].email, DEMO_PASSWORD,
                   DEMO[i].name);
        } else
            status = report_failure(DEMO[i].email, rv, field, why);
    }
    bp_kv_close(kv);
    bp_db_close(db);
    return status;
}

int auth_command(const bp_daemon *d, const char *cmd, int argc, char **argv)
{
    if (strcmp(cmd, "create-user") == 0)
        return create_user(d, argc, argv);
    if (strcmp(cmd, "demo-data") == 0)
        return demo_data(d, argc, argv);
    return -1;
}
