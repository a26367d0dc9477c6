/*
 * sipbridgectl.c - command line client for sipbridged's control socket.
 *
 * Sends one request (one JSON object per line, UTF-8) over the daemon's Unix
 * stream socket, waits for the reply carrying the same transaction and prints
 * it, human readably or as JSON lines.  "events", "state watch", "mwi
 * watch" and "raw --follow" then keep printing the events the daemon
 * pushes until interrupted or EOF.  "handles" lists the SIP API's handles
 * (src/api); their events reach "events" on the topic "sip".
 *
 * Commands are rows of cli_commands[]: a new command is a builder (argv to
 * request object) and a printer (reply data to text), nothing else.  A row
 * may instead name a table of sub-commands ("conference list"), which are
 * rows of the same kind.
 *
 * Exit status: 0 success, 1 error reply, 2 daemon unreachable (cannot
 * connect, connection lost, no reply in time), 64 usage error (EX_USAGE).
 * All state lives in one struct cli passed around; there are no globals.
 */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#ifndef SIPBRIDGE_VERSION
#define SIPBRIDGE_VERSION "unknown"
#endif

#define CLI_PROG            "sipbridgectl"
#define CLI_DEFAULT_SOCKET  "/run/sipbridge/control.sock"
#define CLI_SOCKET_ENV      "SIPBRIDGE_SOCKET"
#define CLI_DEFAULT_TIMEOUT 10.0
#define CLI_READ_CHUNK      4096

enum cli_exit {
    CLI_EXIT_OK = 0,
    CLI_EXIT_ERROR = 1,       /* the daemon answered with an error */
    CLI_EXIT_UNREACHABLE = 2, /* no usable answer from the daemon */
    CLI_EXIT_USAGE = 64       /* EX_USAGE from sysexits.h */
};

/* Outcome of waiting for one line from the daemon. */
enum cli_io {
    CLI_IO_LINE,
    CLI_IO_EOF,
    CLI_IO_TIMEOUT,
    CLI_IO_SIGNAL,
    CLI_IO_OUTPUT_GONE, /* nobody reads our stdout any more */
    CLI_IO_ERROR  /* errno holds the cause */
};

#define CLI_CMD_STREAM 0x1u /* always streams events after the reply */
#define CLI_CMD_FOLLOW 0x2u /* accepts --follow */
#define CLI_CMD_RAW    0x4u /* prints replies verbatim, never humanised */
#define CLI_CMD_SEND   0x8u /* accepts --from and --type */

struct cli;

/* Build the request (without transaction) from the command's arguments;
 * NULL after printing a usage message. */
typedef json_t *(*cli_build_fn)(struct cli *c, int argc, char **argv);
/* Print a success reply's data (may be NULL) for humans. */
typedef void (*cli_print_fn)(struct cli *c, json_t *req, json_t *data);

struct cli_cmd {
    const char *name;
    const char *args;   /* argument synopsis for the usage text */
    const char *help;
    int min_args;
    int max_args;       /* -1: no limit */
    unsigned flags;
    cli_build_fn build;
    cli_print_fn print;
    /* Non-NULL: a group; the first argument picks the row of this table
     * that runs, and build, print and the argument counts are unused. */
    const struct cli_cmd *subs;
};

struct cli {
    /* options */
    const char *socket_path;
    double timeout;             /* seconds, 0 = wait forever */
    bool json;
    bool follow;
    const char *from;           /* --from, NULL if not given */
    const char *ctype;          /* --type, NULL if not given */
    const struct cli_cmd *cmd;
    char name[64];              /* "status", "conference show": messages */
    int argc;                   /* command arguments, after the name */
    char **argv;

    /* connection */
    int fd;
    int sigfd;                  /* signalfd while streaming, else -1 */
    int outfd;                  /* stdout while streaming (watched for a
                                   reader that went away), else -1 */
    unsigned long seq;          /* last transaction number used */
    json_t *txn;                /* transaction of the pending request */

    /* line reader: unread bytes are buf[start, len) */
    char *buf;
    size_t start, len, cap;
};

static json_t *cli_build_simple(struct cli *c, int argc, char **argv);
static json_t *cli_build_debug(struct cli *c, int argc, char **argv);
static json_t *cli_build_raw(struct cli *c, int argc, char **argv);
static json_t *cli_build_events(struct cli *c, int argc, char **argv);
static void cli_print_status(struct cli *c, json_t *req, json_t *data);
static void cli_print_debug(struct cli *c, json_t *req, json_t *data);
static void cli_print_reload(struct cli *c, json_t *req, json_t *data);
static void cli_print_version(struct cli *c, json_t *req, json_t *data);
static void cli_print_generic(struct cli *c, json_t *req, json_t *data);
static void cli_print_nothing(struct cli *c, json_t *req, json_t *data);
static json_t *cli_build_conf_list(struct cli *c, int argc, char **argv);
static json_t *cli_build_conf_show(struct cli *c, int argc, char **argv);
static json_t *cli_build_conf_send(struct cli *c, int argc, char **argv);
static json_t *cli_build_conf_kick(struct cli *c, int argc, char **argv);
static void cli_print_conf_list(struct cli *c, json_t *req, json_t *data);
static void cli_print_conf_show(struct cli *c, json_t *req, json_t *data);
static void cli_print_conf_send(struct cli *c, json_t *req, json_t *data);
static void cli_print_conf_kick(struct cli *c, json_t *req, json_t *data);
static json_t *cli_build_state_devices(struct cli *c, int argc, char **argv);
static json_t *cli_build_state_mailboxes(struct cli *c, int argc,
                                         char **argv);
static json_t *cli_build_state_set_device(struct cli *c, int argc,
                                          char **argv);
static json_t *cli_build_state_set_mailbox(struct cli *c, int argc,
                                           char **argv);
static json_t *cli_build_state_watch(struct cli *c, int argc, char **argv);
static json_t *cli_build_publish_status(struct cli *c, int argc, char **argv);
static void cli_print_state_devices(struct cli *c, json_t *req, json_t *data);
static void cli_print_state_mailboxes(struct cli *c, json_t *req,
                                      json_t *data);
static void cli_print_state_set_device(struct cli *c, json_t *req,
                                       json_t *data);
static void cli_print_state_set_mailbox(struct cli *c, json_t *req,
                                        json_t *data);
static void cli_print_publish_status(struct cli *c, json_t *req,
                                     json_t *data);
static json_t *cli_build_mwi_status(struct cli *c, int argc, char **argv);
static json_t *cli_build_mwi_notify(struct cli *c, int argc, char **argv);
static json_t *cli_build_mwi_show(struct cli *c, int argc, char **argv);
static json_t *cli_build_mwi_watch(struct cli *c, int argc, char **argv);
static void cli_print_mwi_status(struct cli *c, json_t *req, json_t *data);
static void cli_print_mwi_notify(struct cli *c, json_t *req, json_t *data);
static void cli_print_mwi_show(struct cli *c, json_t *req, json_t *data);
static json_t *cli_build_handles(struct cli *c, int argc, char **argv);
static void cli_print_handles(struct cli *c, json_t *req, json_t *data);

/* "conference ...": the chat relay's requests (src/chat/chat.c). */
static const struct cli_cmd cli_conf_commands[] = {
    { "list", "", "list the conferences",
      0, 0, 0, cli_build_conf_list, cli_print_conf_list, NULL },
    { "show", "NAME", "show a conference and its participants",
      1, 1, 0, cli_build_conf_show, cli_print_conf_show, NULL },
    { "send", "NAME TEXT [--from NAME] [--type CT]",
      "send TEXT to every participant",
      2, 2, CLI_CMD_SEND, cli_build_conf_send, cli_print_conf_send, NULL },
    { "kick", "NAME ID", "end participant ID's call",
      2, 2, 0, cli_build_conf_kick, cli_print_conf_kick, NULL },
    { NULL, NULL, NULL, 0, 0, 0, NULL, NULL, NULL }
};

/* "state ...": the PUBLISH state exchange's store (src/pubstate). */
static const struct cli_cmd cli_state_commands[] = {
    { "devices", "[RE]", "list device states (RE: regex filter)",
      0, 1, 0, cli_build_state_devices, cli_print_state_devices, NULL },
    { "mailboxes", "[RE]", "list mailbox states (RE: regex filter)",
      0, 1, 0, cli_build_state_mailboxes, cli_print_state_mailboxes, NULL },
    { "set-device", "DEV STATE", "set our state of device DEV",
      2, 2, 0, cli_build_state_set_device, cli_print_state_set_device,
      NULL },
    { "set-mailbox", "MBOX@CTX NEW OLD",
      "set our message counts of a mailbox",
      3, 3, 0, cli_build_state_set_mailbox, cli_print_state_set_mailbox,
      NULL },
    { "watch", "", "stream device and mailbox state changes",
      0, 0, CLI_CMD_STREAM, cli_build_state_watch, cli_print_nothing, NULL },
    { NULL, NULL, NULL, 0, 0, 0, NULL, NULL, NULL }
};

/* "publish ...": the outbound PUBLISH clients. */
static const struct cli_cmd cli_publish_commands[] = {
    { "status", "", "show the entity id, counters and publish targets",
      0, 0, 0, cli_build_publish_status, cli_print_publish_status, NULL },
    { NULL, NULL, NULL, 0, 0, 0, NULL, NULL, NULL }
};

/* "mwi ...": the MWI NOTIFY sender (src/mwi), after Asterisk's
 * res_zonkey_mwi CLI ("zonkeymwi status|show subscription|notify"). */
static const struct cli_cmd cli_mwi_commands[] = {
    { "status", "", "show the MWI sender's database, proxy and counters",
      0, 0, 0, cli_build_mwi_status, cli_print_mwi_status, NULL },
    { "notify", "USER DOMAIN NEW OLD [URGENT_NEW URGENT_OLD]",
      "NOTIFY these counts to USER@DOMAIN's subscribers",
      4, 6, 0, cli_build_mwi_notify, cli_print_mwi_notify, NULL },
    { "show", "subscription USER DOMAIN",
      "list the message-summary subscriptions to USER@DOMAIN",
      3, 3, 0, cli_build_mwi_show, cli_print_mwi_show, NULL },
    { "watch", "", "stream the outcome of every MWI NOTIFY",
      0, 0, CLI_CMD_STREAM, cli_build_mwi_watch, cli_print_nothing, NULL },
    { NULL, NULL, NULL, 0, 0, 0, NULL, NULL, NULL }
};

static const struct cli_cmd cli_commands[] = {
    { "status", "", "show the daemon's status",
      0, 0, 0, cli_build_simple, cli_print_status, NULL },
    { "debug", "on|off", "turn the SIP message trace on or off",
      1, 1, 0, cli_build_debug, cli_print_debug, NULL },
    { "reload", "", "reload the configuration file",
      0, 0, 0, cli_build_simple, cli_print_reload, NULL },
    { "version", "", "show the daemon's version",
      0, 0, 0, cli_build_simple, cli_print_version, NULL },
    { "raw", "'JSON'", "send one request object, print the reply",
      1, 1, CLI_CMD_FOLLOW | CLI_CMD_RAW, cli_build_raw, cli_print_generic,
      NULL },
    { "events", "[TOPIC...]",
      "stream events (all topics, sip included, if none given)",
      0, -1, CLI_CMD_STREAM, cli_build_events, cli_print_nothing, NULL },
    { "handles", "", "list the SIP API's handles (accounts)",
      0, 0, 0, cli_build_handles, cli_print_handles, NULL },
    { "conference", "list|show|send|kick", "chat conferences",
      0, 0, 0, NULL, NULL, cli_conf_commands },
    { "state", "devices|mailboxes|set-device|set-mailbox|watch",
      "device and mailbox states", 0, 0, 0, NULL, NULL, cli_state_commands },
    { "publish", "status", "state publication (PUBLISH)",
      0, 0, 0, NULL, NULL, cli_publish_commands },
    { "mwi", "status|notify|show|watch",
      "message waiting NOTIFYs (message-summary)",
      0, 0, 0, NULL, NULL, cli_mwi_commands },
    { NULL, NULL, NULL, 0, 0, 0, NULL, NULL, NULL }
};

/* ------------------------------------------------------------------------ */
/* messages and usage                                                        */

static void
cli_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
cli_errorf(const char *fmt, ...)
{
    va_list ap;

    fputs(CLI_PROG ": ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* One line of the command list; a synopsis too wide for its column gets
 * the help text on a line of its own. */
static void
cli_usage_command(FILE *out, const char *group, const struct cli_cmd *cmd)
{
    char synopsis[128];

    snprintf(synopsis, sizeof(synopsis), "%s%s%s %s", group ? group : "",
             group ? " " : "", cmd->name, cmd->args);
    if (strlen(synopsis) > 20)
        fprintf(out, "  %s\n  %-20s  %s\n", synopsis, "", cmd->help);
    else
        fprintf(out, "  %-20s  %s\n", synopsis, cmd->help);
}

static void
cli_usage(FILE *out)
{
    const struct cli_cmd *cmd, *sub;

    fprintf(out,
        "Usage: " CLI_PROG " [OPTIONS] COMMAND [ARG...]\n"
        "\n"
        "Control a running sipbridged through its control socket.\n"
        "\n"
        "Options:\n"
        "  -s, --socket PATH     control socket (default: $" CLI_SOCKET_ENV
        " or\n"
        "                        " CLI_DEFAULT_SOCKET ")\n"
        "  -t, --timeout SECS    give up waiting for a reply after SECS "
        "seconds\n"
        "                        (default 10; 0 waits forever)\n"
        "      --json            print replies and events as JSON lines\n"
        "      --follow          raw: keep printing events after the reply\n"
        "      --from NAME       conference send: the sender's display name\n"
        "      --type CT         conference send: the content type (default:\n"
        "                        the daemon's, text/plain;charset=UTF-8)\n"
        "  -h, --help            show this help and exit\n"
        "  -V, --version         show " CLI_PROG "'s version and exit\n"
        "\n"
        "Commands:\n");
    for (cmd = cli_commands; cmd->name != NULL; cmd++) {
        if (cmd->subs == NULL)
            cli_usage_command(out, NULL, cmd);
        for (sub = cmd->subs; sub != NULL && sub->name != NULL; sub++)
            cli_usage_command(out, cmd->name, sub);
    }
    fprintf(out,
        "\n"
        "Exit status: 0 success, 1 error reply, 2 daemon unreachable or no "
        "reply,\n"
        "64 usage error.\n");
}

static int
cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Report a usage error: message, then a hint, never the whole help text, so
 * the actual complaint stays visible. */
static int
cli_usage_error(const char *fmt, ...)
{
    va_list ap;

    fputs(CLI_PROG ": ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nTry '" CLI_PROG " --help' for more information.\n", stderr);
    return CLI_EXIT_USAGE;
}

/* ------------------------------------------------------------------------ */
/* option parsing                                                            */

static const struct cli_cmd *
cli_find_command(const struct cli_cmd *table, const char *name)
{
    const struct cli_cmd *cmd;

    for (cmd = table; cmd->name != NULL; cmd++) {
        if (strcmp(cmd->name, name) == 0)
            return cmd;
    }
    return NULL;
}

static int
cli_parse_timeout(const char *s, double *out)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    /* Written so that NaN fails too: every comparison with it is false. */
    if (errno != 0 || end == s || *end != '\0'
        || !(v >= 0 && v <= 86400.0 * 365))
        return -1;
    *out = v;
    return 0;
}

/* @return -1 to go on, else the exit status (help, version, usage error). */
static int
cli_parse_options(struct cli *c, int argc, char **argv)
{
    enum { OPT_JSON = 256, OPT_FOLLOW, OPT_FROM, OPT_TYPE };
    static const struct option longopts[] = {
        { "socket",  required_argument, NULL, 's' },
        { "timeout", required_argument, NULL, 't' },
        { "json",    no_argument,       NULL, OPT_JSON },
        { "follow",  no_argument,       NULL, OPT_FOLLOW },
        { "from",    required_argument, NULL, OPT_FROM },
        { "type",    required_argument, NULL, OPT_TYPE },
        { "help",    no_argument,       NULL, 'h' },
        { "version", no_argument,       NULL, 'V' },
        { NULL, 0, NULL, 0 }
    };
    const char *env;
    int opt;

    env = getenv(CLI_SOCKET_ENV);
    if (env != NULL && env[0] != '\0')
        c->socket_path = env;

    /* The leading ':' lets us word the errors ourselves; GNU permutation
     * allows options after the command ("raw --follow '{...}'"). */
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":s:t:hV", longopts, NULL)) != -1) {
        switch (opt) {
        case 's':
            if (optarg[0] == '\0')
                return cli_usage_error("empty socket path");
            c->socket_path = optarg;
            break;
        case 't':
            if (cli_parse_timeout(optarg, &c->timeout) != 0)
                return cli_usage_error("invalid timeout '%s'", optarg);
            break;
        case OPT_JSON:
            c->json = true;
            break;
        case OPT_FOLLOW:
            c->follow = true;
            break;
        case OPT_FROM:
            c->from = optarg;
            break;
        case OPT_TYPE:
            c->ctype = optarg;
            break;
        case 'h':
            cli_usage(stdout);
            return CLI_EXIT_OK;
        case 'V':
            printf(CLI_PROG " %s\n", SIPBRIDGE_VERSION);
            return CLI_EXIT_OK;
        case ':':
            if (optopt != 0)
                return cli_usage_error("option '-%c' needs an argument",
                                       optopt);
            return cli_usage_error("option '%s' needs an argument",
                                   argv[optind - 1]);
        default:
            /* optopt names a bad short option even inside a group ("-jx");
             * a bad long one is only in argv. */
            if (optopt != 0)
                return cli_usage_error("unknown option '-%c'", optopt);
            return cli_usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    return -1;
}

/* "usage: sipbridgectl NAME ARGS": the complaint about a wrong number of
 * arguments.  @return the usage error's exit status. */
static int
cli_usage_synopsis(const char *name, const struct cli_cmd *cmd)
{
    fprintf(stderr, CLI_PROG ": usage: " CLI_PROG " %s%s%s\n", name,
            cmd->args[0] != '\0' ? " " : "", cmd->args);
    return CLI_EXIT_USAGE;
}

/* Replace the group *@p cmd by the sub-command named at argv[*@p next],
 * which is consumed.  @return -1 to go on, else a usage error's status. */
static int
cli_parse_sub(struct cli *c, int argc, char **argv,
              const struct cli_cmd **cmd, int *next)
{
    const struct cli_cmd *group = *cmd;
    const struct cli_cmd *sub;

    if (*next >= argc)
        return cli_usage_error("%s: expected %s", group->name, group->args);
    sub = cli_find_command(group->subs, argv[*next]);
    if (sub == NULL)
        return cli_usage_error("%s: unknown sub-command '%s' (expected %s)",
                               group->name, argv[*next], group->args);
    snprintf(c->name, sizeof(c->name), "%s %s", group->name, sub->name);
    *cmd = sub;
    (*next)++;
    return -1;
}

/* @return -1 to go on, else the exit status of a usage error. */
static int
cli_parse_command(struct cli *c, int argc, char **argv)
{
    const struct cli_cmd *cmd;
    int next = optind + 1;  /* argv index of the first argument */
    int nargs, status;

    if (optind >= argc)
        return cli_usage_error("no command given");
    cmd = cli_find_command(cli_commands, argv[optind]);
    if (cmd == NULL)
        return cli_usage_error("unknown command '%s'", argv[optind]);
    snprintf(c->name, sizeof(c->name), "%s", cmd->name);
    if (cmd->subs != NULL) {
        status = cli_parse_sub(c, argc, argv, &cmd, &next);
        if (status >= 0)
            return status;
    }

    nargs = argc - next;
    if (nargs < cmd->min_args
        || (cmd->max_args >= 0 && nargs > cmd->max_args))
        return cli_usage_synopsis(c->name, cmd);
    if (c->follow && !(cmd->flags & CLI_CMD_FOLLOW))
        return cli_usage_error("--follow does not apply to '%s'", c->name);
    if ((c->from != NULL || c->ctype != NULL) && !(cmd->flags & CLI_CMD_SEND))
        return cli_usage_error("--from and --type do not apply to '%s'",
                               c->name);

    c->cmd = cmd;
    c->argc = nargs;
    c->argv = argv + next;
    return -1;
}

/* ------------------------------------------------------------------------ */
/* request builders                                                          */

static json_t *
cli_build_simple(struct cli *c, int argc, char **argv)
{
    (void) argc;
    (void) argv;
    return json_pack("{s:s}", "request", c->cmd->name);
}

static json_t *
cli_build_debug(struct cli *c, int argc, char **argv)
{
    bool enable;

    (void) argc;
    if (strcmp(argv[0], "on") == 0) {
        enable = true;
    } else if (strcmp(argv[0], "off") == 0) {
        enable = false;
    } else {
        cli_usage_error("debug: expected 'on' or 'off', got '%s'", argv[0]);
        return NULL;
    }
    return json_pack("{s:s, s:b}", "request", c->cmd->name, "enable", enable);
}

static json_t *
cli_build_raw(struct cli *c, int argc, char **argv)
{
    json_error_t err;
    json_t *req;

    (void) c;
    (void) argc;
    req = json_loads(argv[0], 0, &err);
    if (req == NULL) {
        cli_usage_error("raw: invalid JSON at column %d: %s", err.column,
                        err.text);
        return NULL;
    }
    if (!json_is_object(req)) {
        json_decref(req);
        cli_usage_error("raw: the request must be a JSON object");
        return NULL;
    }
    return req;
}

static json_t *
cli_build_events(struct cli *c, int argc, char **argv)
{
    json_t *topics, *topic;
    int i;

    (void) c;
    topics = json_array();
    if (topics == NULL)
        return NULL;
    for (i = 0; i < argc; i++) {
        topic = json_string(argv[i]);   /* NULL unless valid UTF-8 */
        if (topic == NULL) {
            json_decref(topics);
            cli_usage_error("events: topic %d is not valid UTF-8", i + 1);
            return NULL;
        }
        json_array_append_new(topics, topic);
    }
    /* The protocol spells "all topics" as ["*"], not as an empty list. */
    if (argc == 0)
        json_array_append_new(topics, json_string("*"));
    return json_pack("{s:s, s:o}", "request", "watch", "topics", topics);
}

/* ------------------------------------------------------------------------ */
/* conference request builders                                               */

/* Set @p key of @p req to the command argument @p s.  @return 0, or -1
 * after a usage error naming the argument @p what: a JSON string cannot
 * hold bytes that are not UTF-8, and sending a mangled name would only
 * earn a confusing "no conference named ...". */
static int
cli_set_arg(struct cli *c, json_t *req, const char *key, const char *what,
            const char *s)
{
    json_t *v = json_string(s);

    if (v == NULL) {
        cli_usage_error("%s: %s is not valid UTF-8", c->name, what);
        return -1;
    }
    return json_object_set_new(req, key, v);
}

/* {"request":REQUEST,"name":NAME}, the start of every request about one
 * conference; NULL after a usage error. */
static json_t *
cli_conf_request(struct cli *c, const char *request, const char *name)
{
    json_t *req = json_pack("{s:s}", "request", request);

    if (req != NULL && cli_set_arg(c, req, "name", "NAME", name) != 0) {
        json_decref(req);
        return NULL;
    }
    return req;
}

/* Participant ids are positive integers that fit a JSON integer; anything
 * else is refused before connecting, so a typo is a usage error rather
 * than the daemon's "no participant". */
static int
cli_parse_uint(const char *s, json_int_t *out)
{
    unsigned long long v;
    char *end;

    /* strtoull() alone would take blanks, a sign, and "-1" as a huge id. */
    if (s[0] == '\0' || strspn(s, "0123456789") != strlen(s))
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > (unsigned long long) LLONG_MAX)
        return -1;
    *out = (json_int_t) v;
    return 0;
}

static int
cli_parse_id(const char *s, json_int_t *out)
{
    return cli_parse_uint(s, out) != 0 || *out == 0 ? -1 : 0;
}

static json_t *
cli_build_conf_list(struct cli *c, int argc, char **argv)
{
    (void) c;
    (void) argc;
    (void) argv;
    return json_pack("{s:s}", "request", "conference_list");
}

static json_t *
cli_build_conf_show(struct cli *c, int argc, char **argv)
{
    (void) argc;
    return cli_conf_request(c, "conference_info", argv[0]);
}

static json_t *
cli_build_conf_send(struct cli *c, int argc, char **argv)
{
    json_t *req;

    (void) argc;
    if (argv[1][0] == '\0') {
        cli_usage_error("%s: TEXT must not be empty", c->name);
        return NULL;
    }
    if (c->ctype != NULL && c->ctype[0] == '\0') {
        cli_usage_error("%s: --type must not be empty", c->name);
        return NULL;
    }
    req = cli_conf_request(c, "conference_send", argv[0]);
    /* Options not given stay out of the request: the daemon's defaults
     * (no display name, text/plain;charset=UTF-8) are the ones to use. */
    if (req == NULL
        || cli_set_arg(c, req, "body", "TEXT", argv[1]) != 0
        || (c->from != NULL
            && cli_set_arg(c, req, "from", "--from", c->from) != 0)
        || (c->ctype != NULL
            && cli_set_arg(c, req, "content_type", "--type", c->ctype) != 0)) {
        json_decref(req);
        return NULL;
    }
    return req;
}

static json_t *
cli_build_conf_kick(struct cli *c, int argc, char **argv)
{
    json_int_t id;
    json_t *req;

    (void) argc;
    if (cli_parse_id(argv[1], &id) != 0) {
        cli_usage_error("%s: ID must be a positive integer, got '%s'",
                        c->name, argv[1]);
        return NULL;
    }
    req = cli_conf_request(c, "conference_kick", argv[0]);
    if (req != NULL && json_object_set_new(req, "id", json_integer(id)) != 0) {
        json_decref(req);
        return NULL;
    }
    return req;
}

/* ------------------------------------------------------------------------ */
/* state exchange request builders                                           */

/* {"request":REQUEST}, plus "filter" if a regex was given: the daemon
 * compiles it (POSIX ERE, case-insensitive) and answers 444 if it cannot. */
static json_t *
cli_state_list_request(struct cli *c, const char *request, int argc,
                       char **argv)
{
    json_t *req = json_pack("{s:s}", "request", request);

    if (req != NULL && argc > 0
        && cli_set_arg(c, req, "filter", "RE", argv[0]) != 0) {
        json_decref(req);
        return NULL;
    }
    return req;
}

static json_t *
cli_build_state_devices(struct cli *c, int argc, char **argv)
{
    return cli_state_list_request(c, "state_devices", argc, argv);
}

static json_t *
cli_build_state_mailboxes(struct cli *c, int argc, char **argv)
{
    return cli_state_list_request(c, "state_mailboxes", argc, argv);
}

/* The state name is left to the daemon (it knows which exist); a typo is
 * its error 444, exit status 1. */
static json_t *
cli_build_state_set_device(struct cli *c, int argc, char **argv)
{
    json_t *req = json_pack("{s:s}", "request", "state_set_device");

    (void) argc;
    if (req == NULL
        || cli_set_arg(c, req, "device", "DEV", argv[0]) != 0
        || cli_set_arg(c, req, "state", "STATE", argv[1]) != 0) {
        json_decref(req);
        return NULL;
    }
    return req;
}

/* Set @p key of @p req to the count @p s: digits only, else a usage error.
 * The daemon checks the range (0..2147483647). */
static int
cli_set_count(struct cli *c, json_t *req, const char *key, const char *what,
              const char *s)
{
    json_int_t v;

    if (cli_parse_uint(s, &v) != 0) {
        cli_usage_error("%s: %s must be a non-negative integer, got '%s'",
                        c->name, what, s);
        return -1;
    }
    return json_object_set_new(req, key, json_integer(v));
}

static json_t *
cli_build_state_set_mailbox(struct cli *c, int argc, char **argv)
{
    json_t *req = json_pack("{s:s}", "request", "state_set_mailbox");

    (void) argc;
    if (req == NULL
        || cli_set_arg(c, req, "mailbox", "MBOX@CTX", argv[0]) != 0
        || cli_set_count(c, req, "new", "NEW", argv[1]) != 0
        || cli_set_count(c, req, "old", "OLD", argv[2]) != 0) {
        json_decref(req);
        return NULL;
    }
    return req;
}

/* "state watch" is "events state". */
static json_t *
cli_build_state_watch(struct cli *c, int argc, char **argv)
{
    (void) c;
    (void) argc;
    (void) argv;
    return json_pack("{s:s, s:[s]}", "request", "watch", "topics", "state");
}

static json_t *
cli_build_publish_status(struct cli *c, int argc, char **argv)
{
    (void) c;
    (void) argc;
    (void) argv;
    return json_pack("{s:s}", "request", "publish_status");
}

/* ------------------------------------------------------------------------ */
/* MWI request builders                                                      */

static json_t *
cli_build_mwi_status(struct cli *c, int argc, char **argv)
{
    (void) c;
    (void) argc;
    (void) argv;
    return json_pack("{s:s}", "request", "mwi_status");
}

/* {"request":REQUEST,"user":argv[0],"domain":argv[1]}; NULL after a usage
 * error.  What a user part or domain may hold is the daemon's call (444). */
static json_t *
cli_mwi_request(struct cli *c, const char *request, char **argv)
{
    json_t *req = json_pack("{s:s}", "request", request);

    if (req == NULL
        || cli_set_arg(c, req, "user", "USER", argv[0]) != 0
        || cli_set_arg(c, req, "domain", "DOMAIN", argv[1]) != 0) {
        json_decref(req);
        return NULL;
    }
    return req;
}

/* The counts are JSON integers; the urgent pair is sent only when given,
 * and only as a pair. */
static json_t *
cli_build_mwi_notify(struct cli *c, int argc, char **argv)
{
    static const char *const keys[] = {
        "new", "old", "urgent_new", "urgent_old"
    };
    static const char *const what[] = {
        "NEW", "OLD", "URGENT_NEW", "URGENT_OLD"
    };
    json_t *req;
    int i;

    if (argc == 5) {
        cli_usage_synopsis(c->name, c->cmd);
        return NULL;
    }
    req = cli_mwi_request(c, "mwi_notify", argv);
    for (i = 2; req != NULL && i < argc; i++) {
        if (cli_set_count(c, req, keys[i - 2], what[i - 2], argv[i]) != 0) {
            json_decref(req);
            req = NULL;
        }
    }
    return req;
}

/* "show subscription USER DOMAIN": the word is there for the sake of
 * zonkeymwi's "show subscription", and checked. */
static json_t *
cli_build_mwi_show(struct cli *c, int argc, char **argv)
{
    (void) argc;
    if (strcmp(argv[0], "subscription") != 0) {
        cli_usage_error("%s: expected 'subscription', got '%s'", c->name,
                        argv[0]);
        return NULL;
    }
    return cli_mwi_request(c, "mwi_show", argv + 1);
}

/* "mwi watch" is "events mwi". */
static json_t *
cli_build_mwi_watch(struct cli *c, int argc, char **argv)
{
    (void) c;
    (void) argc;
    (void) argv;
    return json_pack("{s:s, s:[s]}", "request", "watch", "topics", "mwi");
}

/* ------------------------------------------------------------------------ */
/* SIP API request builders                                                  */

static json_t *
cli_build_handles(struct cli *c, int argc, char **argv)
{
    (void) c;
    (void) argc;
    (void) argv;
    return json_pack("{s:s}", "request", "list_handles");
}

/* ------------------------------------------------------------------------ */
/* generic JSON rendering for humans                                         */

static bool
cli_in_list(const char *const *list, const char *key)
{
    size_t i;

    for (i = 0; list != NULL && list[i] != NULL; i++) {
        if (strcmp(list[i], key) == 0)
            return true;
    }
    return false;
}

static bool
cli_is_scalar(const json_t *v)
{
    return !json_is_object(v) && !json_is_array(v);
}

static void
cli_put_compact(FILE *out, const json_t *v)
{
    json_dumpf(v, out, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* Print text that may come from a SIP peer: control characters, C1 ones
 * (UTF-8 C2 80..9F) included, are shown escaped so that they cannot drive
 * the terminal.  @p quoted: also escape '"' and '\\' (inside quotes). */
static void
cli_put_text(FILE *out, const char *s, size_t len, bool quoted)
{
    const unsigned char *p = (const unsigned char *) s;
    size_t i;

    for (i = 0; i < len; i++) {
        if (quoted && (p[i] == '"' || p[i] == '\\')) {
            fputc('\\', out);
            fputc(p[i], out);
        } else if (p[i] < 0x20 || p[i] == 0x7f) {
            fprintf(out, "\\x%02x", p[i]);
        } else if (p[i] == 0xc2 && i + 1 < len && p[i + 1] >= 0x80
                   && p[i + 1] <= 0x9f) {
            fprintf(out, "\\u%04x", p[i + 1]);
            i++;
        } else {
            fputc(p[i], out);
        }
    }
}

/* Strings print bare (but escaped); everything else as compact JSON. */
static void
cli_put_value(FILE *out, const json_t *v)
{
    if (json_is_string(v))
        cli_put_text(out, json_string_value(v), json_string_length(v), false);
    else
        cli_put_compact(out, v);
}

/* As cli_put_value(), but quotes strings that would not read back as one
 * word, so "key=value" lists stay unambiguous. */
static void
cli_put_word(FILE *out, const json_t *v)
{
    const char *s;

    if (!json_is_string(v)) {
        cli_put_compact(out, v);
        return;
    }
    s = json_string_value(v);
    if (s[0] == '\0' || strpbrk(s, " \t\r\n\"=") != NULL) {
        fputc('"', out);
        cli_put_text(out, s, json_string_length(v), true);
        fputc('"', out);
    } else {
        cli_put_value(out, v);
    }
}

/* Has @p obj a non-null member not named in @p skip? */
static bool
cli_has_extra(json_t *obj, const char *const *skip)
{
    const char *key;
    json_t *v;

    json_object_foreach(obj, key, v) {
        if (!cli_in_list(skip, key) && !json_is_null(v))
            return true;
    }
    return false;
}

/* "k v, k v" on one line: the compact human form of a flat object.  Nulls
 * ("last_error": null) mean "nothing to say" and are left out. */
static void
cli_put_inline_object(FILE *out, json_t *obj, const char *const *skip)
{
    const char *key;
    json_t *v;
    const char *sep = "";

    json_object_foreach(obj, key, v) {
        if (cli_in_list(skip, key) || json_is_null(v))
            continue;
        fprintf(out, "%s%s ", sep, key);
        cli_put_value(out, v);
        sep = ", ";
    }
}

/* Does @p v fit on one line: a scalar, an empty container, or a list of
 * scalars? */
static bool
cli_is_flat(json_t *v)
{
    json_t *item;
    size_t i;

    if (json_is_object(v))
        return json_object_size(v) == 0;
    json_array_foreach(v, i, item) {
        if (!cli_is_scalar(item))
            return false;
    }
    return true;
}

/* One-line form of a flat value: "a, b, c"; empty containers are "none". */
static void
cli_put_flat(FILE *out, json_t *v)
{
    json_t *item;
    size_t i;

    if (json_is_object(v) || (json_is_array(v) && json_array_size(v) == 0)) {
        fputs("none", out);
        return;
    }
    if (!json_is_array(v)) {
        cli_put_value(out, v);
        return;
    }
    json_array_foreach(v, i, item) {
        fputs(i > 0 ? ", " : "", out);
        cli_put_value(out, item);
    }
}

/* Print any value under @p key: flat ones on one line, objects as an
 * indented block, lists of objects one item a line.  The fallback for
 * fields we do not know, so a newer daemon's additions still show. */
static void
cli_print_field(FILE *out, int indent, const char *key, json_t *v)
{
    const char *k;
    json_t *item;
    size_t i;

    fprintf(out, "%*s%s:", indent, "", key);
    if (cli_is_flat(v)) {
        fputc(' ', out);
        cli_put_flat(out, v);
        fputc('\n', out);
    } else if (json_is_object(v)) {
        fputc('\n', out);
        json_object_foreach(v, k, item)
            cli_print_field(out, indent + 2, k, item);
    } else {
        fputc('\n', out);
        json_array_foreach(v, i, item) {
            fprintf(out, "%*s", indent + 2, "");
            if (json_is_object(item))
                cli_put_inline_object(out, item, NULL);
            else
                cli_put_compact(out, item);
            fputc('\n', out);
        }
    }
}

/* Print every member of @p obj not named in @p known. */
static void
cli_print_rest(FILE *out, json_t *obj, const char *const *known)
{
    const char *key;
    json_t *v;

    json_object_foreach(obj, key, v) {
        if (!cli_in_list(known, key))
            cli_print_field(out, 0, key, v);
    }
}

/* ------------------------------------------------------------------------ */
/* tables for humans                                                         */

#define CLI_TABLE_MAX_COLS 16

/* Rows of cells printed with every column as wide as its widest cell.
 * Cells are rendered (escaped) when added, so the widths are those of what
 * is printed.  The header is row 0. */
struct cli_table {
    size_t ncols;
    size_t ncells, cap;
    char **cells;       /* row-major; NULL where memory ran out */
    bool broken;        /* a cell could not be stored: alignment is lost */
};

static void
cli_table_add(struct cli_table *t, char *cell)
{
    char **p;
    size_t cap;

    if (t->ncells == t->cap) {
        cap = t->cap > 0 ? t->cap * 2 : 64;
        p = realloc(t->cells, cap * sizeof(*p));
        if (p == NULL) {
            free(cell);
            t->broken = true;
            return;
        }
        t->cells = p;
        t->cap = cap;
    }
    t->cells[t->ncells++] = cell;
}

static void
cli_table_text(struct cli_table *t, const char *text)
{
    cli_table_add(t, strdup(text));
}

/* A cell showing @p v as cli_put_value() would; a missing value or an
 * empty string is "-", so that no column has holes. */
static void
cli_table_value(struct cli_table *t, const json_t *v)
{
    char *cell = NULL;
    size_t size;
    FILE *f;

    if (v == NULL || (json_is_string(v) && json_string_length(v) == 0)) {
        cli_table_text(t, "-");
        return;
    }
    f = open_memstream(&cell, &size);
    if (f != NULL) {
        cli_put_value(f, v);
        if (fclose(f) != 0) {
            free(cell);
            cell = NULL;
        }
    }
    cli_table_add(t, cell);
}

static void
cli_table_init(struct cli_table *t, const char *const *head)
{
    memset(t, 0, sizeof(*t));
    while (head[t->ncols] != NULL)
        cli_table_text(t, head[t->ncols++]);
}

/* Columns a cell takes on a terminal: one per UTF-8 character (escaping
 * left only printable ones).  Wide CJK characters will misalign; counting
 * them right needs wcwidth() and a UTF-8 locale, not worth it here. */
static size_t
cli_text_width(const char *s)
{
    size_t w = 0;

    for (; *s != '\0'; s++)
        w += ((unsigned char) *s & 0xc0) != 0x80;
    return w;
}

static void
cli_table_print(FILE *out, const struct cli_table *t)
{
    size_t width[CLI_TABLE_MAX_COLS] = { 0 };
    size_t i, col, w;
    const char *cell;

    if (t->broken || t->ncols == 0 || t->ncols > CLI_TABLE_MAX_COLS) {
        cli_errorf("cannot format the table: out of memory");
        return;
    }
    for (i = 0; i < t->ncells; i++) {
        w = t->cells[i] != NULL ? cli_text_width(t->cells[i]) : 1;
        if (w > width[i % t->ncols])
            width[i % t->ncols] = w;
    }
    for (i = 0; i < t->ncells; i++) {
        col = i % t->ncols;
        cell = t->cells[i] != NULL ? t->cells[i] : "?";
        fputs(cell, out);
        /* The last column is not padded: no trailing blanks. */
        if (col + 1 < t->ncols)
            fprintf(out, "%*s", (int) (width[col] - cli_text_width(cell) + 2),
                    "");
        else
            fputc('\n', out);
    }
}

static void
cli_table_free(struct cli_table *t)
{
    size_t i;

    for (i = 0; i < t->ncells; i++)
        free(t->cells[i]);
    free(t->cells);
}

/* ------------------------------------------------------------------------ */
/* reply printers                                                            */

/* 3723 -> "1h02m03s"; days only when there are any. */
static void
cli_format_duration(char *buf, size_t size, double secs)
{
    unsigned long long t, d, h, m, s;

    /* Clamped: converting an out-of-range double is undefined. */
    t = secs > 0 ? (unsigned long long) (secs < 1e15 ? secs : 1e15) : 0;
    d = t / 86400;
    h = t / 3600 % 24;
    m = t / 60 % 60;
    s = t % 60;
    if (d > 0)
        snprintf(buf, size, "%llud%02lluh%02llum%02llus", d, h, m, s);
    else if (h > 0)
        snprintf(buf, size, "%lluh%02llum%02llus", h, m, s);
    else if (m > 0)
        snprintf(buf, size, "%llum%02llus", m, s);
    else
        snprintf(buf, size, "%llus", s);
}

/* "sipbridged 0.1.0, up 1h02m03s, pid 1234", with whatever parts exist. */
static void
cli_print_status_head(FILE *out, json_t *data)
{
    json_t *version = json_object_get(data, "version");
    json_t *uptime = json_object_get(data, "uptime");
    json_t *pid = json_object_get(data, "pid");
    char dur[64];

    fputs("sipbridged", out);
    if (version != NULL) {
        fputc(' ', out);
        cli_put_value(out, version);
    }
    if (json_is_number(uptime)) {
        cli_format_duration(dur, sizeof(dur), json_number_value(uptime));
        fprintf(out, ", up %s", dur);
    }
    if (pid != NULL) {
        fputs(", pid ", out);
        cli_put_value(out, pid);
    }
    fputc('\n', out);
}

/* One listener: "udp 127.0.0.1:5060", IPv6 literals bracketed. */
static void
cli_put_listener(FILE *out, json_t *l)
{
    static const char *const known[] = {
        "name", "protocol", "address", "port", NULL
    };
    json_t *proto = json_object_get(l, "protocol");
    json_t *addr = json_object_get(l, "address");
    json_t *port = json_object_get(l, "port");
    const char *key;
    json_t *v;
    size_t extra = 0;
    bool v6;

    if (!json_is_object(l)) {
        cli_put_compact(out, l);
        return;
    }
    if (proto != NULL) {
        cli_put_value(out, proto);
        fputc(' ', out);
    }
    v6 = json_is_string(addr) && strchr(json_string_value(addr), ':') != NULL;
    fputs(v6 ? "[" : "", out);
    if (addr != NULL)
        cli_put_value(out, addr);
    else
        fputc('?', out);
    fputs(v6 ? "]" : "", out);
    if (port != NULL) {
        fputc(':', out);
        cli_put_value(out, port);
    }
    /* Anything beyond the usual four goes in parentheses, lest it be lost. */
    json_object_foreach(l, key, v) {
        if (cli_in_list(known, key))
            continue;
        fprintf(out, "%s%s ", extra++ ? ", " : " (", key);
        cli_put_value(out, v);
    }
    if (extra > 0)
        fputc(')', out);
}

static void
cli_print_listeners(FILE *out, json_t *listeners)
{
    json_t *l;
    size_t i;

    fputs("listeners: ", out);
    if (json_array_size(listeners) == 0)
        fputs("none", out);
    json_array_foreach(listeners, i, l) {
        fputs(i > 0 ? ", " : "", out);
        cli_put_listener(out, l);
    }
    fputc('\n', out);
}

/* "control clients: 1", then any other control fields the same way. */
static void
cli_print_control(FILE *out, json_t *control)
{
    const char *key;
    json_t *v;
    char label[256];

    json_object_foreach(control, key, v) {
        snprintf(label, sizeof(label), "control %s", key);
        cli_print_field(out, 0, label, v);
    }
}

/* "database pg1: connected (queued 0, ...)": a database core's status. */
static void
cli_print_database(FILE *out, json_t *db)
{
    static const char *const skip[] = { "name", "state", NULL };
    json_t *name = json_object_get(db, "name");
    json_t *state = json_object_get(db, "state");

    if (!json_is_object(db)) {
        fputs("database: ", out);
        cli_put_compact(out, db);
        fputc('\n', out);
        return;
    }
    fputs("database ", out);
    if (name != NULL)
        cli_put_value(out, name);
    else
        fputc('?', out);
    fputs(": ", out);
    if (state != NULL)
        cli_put_value(out, state);
    else
        fputs("unknown", out);
    if (cli_has_extra(db, skip)) {
        fputs(" (", out);
        cli_put_inline_object(out, db, skip);
        fputc(')', out);
    }
    fputc('\n', out);
}

static void
cli_print_databases(FILE *out, json_t *dbs)
{
    json_t *db;
    size_t i;

    if (json_array_size(dbs) == 0)
        fputs("databases: none\n", out);
    json_array_foreach(dbs, i, db)
        cli_print_database(out, db);
}

static void
cli_print_status(struct cli *c, json_t *req, json_t *data)
{
    static const char *const known[] = {
        "version", "uptime", "pid", "listeners", "control", "databases", NULL
    };
    json_t *v;

    (void) c;
    (void) req;
    if (!json_is_object(data)) {
        cli_print_generic(c, req, data);
        return;
    }
    cli_print_status_head(stdout, data);

    /* A field of an unexpected type is printed generically rather than
     * dropped: a newer daemon may have changed it. */
    v = json_object_get(data, "listeners");
    if (json_is_array(v))
        cli_print_listeners(stdout, v);
    else if (v != NULL)
        cli_print_field(stdout, 0, "listeners", v);
    v = json_object_get(data, "control");
    if (json_is_object(v))
        cli_print_control(stdout, v);
    else if (v != NULL)
        cli_print_field(stdout, 0, "control", v);
    v = json_object_get(data, "databases");
    if (json_is_array(v))
        cli_print_databases(stdout, v);
    else if (v != NULL)
        cli_print_field(stdout, 0, "databases", v);

    cli_print_rest(stdout, data, known);
}

static void
cli_print_debug(struct cli *c, json_t *req, json_t *data)
{
    /* The state is what we asked for; an echo of it is not news. */
    static const char *const known[] = { "debug", "enable", "enabled", NULL };

    (void) c;
    printf("debug %s\n",
           json_is_true(json_object_get(req, "enable")) ? "on" : "off");
    cli_print_rest(stdout, data, known);
}

static void
cli_print_reload(struct cli *c, json_t *req, json_t *data)
{
    static const char *const known[] = { NULL };

    (void) c;
    (void) req;
    puts("configuration reloaded");
    cli_print_rest(stdout, data, known);
}

static void
cli_print_version(struct cli *c, json_t *req, json_t *data)
{
    static const char *const known[] = { "version", NULL };
    json_t *v = json_object_get(data, "version");

    (void) c;
    (void) req;
    fputs("sipbridged ", stdout);
    if (v != NULL)
        cli_put_value(stdout, v);
    else
        fputs("(unknown version)", stdout);
    fputc('\n', stdout);
    cli_print_rest(stdout, data, known);
}

static void
cli_print_generic(struct cli *c, json_t *req, json_t *data)
{
    static const char *const known[] = { NULL };

    (void) c;
    (void) req;
    if (json_is_object(data))
        cli_print_rest(stdout, data, known);
    else if (data != NULL)
        cli_print_field(stdout, 0, "data", data);
}

/* Success of a streaming command: stdout is kept for the events alone. */
static void
cli_print_nothing(struct cli *c, json_t *req, json_t *data)
{
    (void) c;
    (void) req;
    (void) data;
}

/* "error 461: <first line>", further lines of the text (config errors, one
 * per line) indented below, as are the items of an "errors" array. */
static void
cli_print_error_reply(json_t *reply)
{
    json_t *code = json_object_get(reply, "error_code");
    json_t *text = json_object_get(reply, "error");
    json_t *errors = json_object_get(reply, "errors");
    const char *s, *nl;
    json_t *item;
    size_t i;

    fputs("error", stderr);
    if (code != NULL) {
        fputc(' ', stderr);
        cli_put_value(stderr, code);
    }
    fputs(": ", stderr);
    s = json_is_string(text) ? json_string_value(text) : "(no message)";
    while ((nl = strchr(s, '\n')) != NULL) {
        cli_put_text(stderr, s, (size_t) (nl - s), false);
        fputs("\n  ", stderr);
        s = nl + 1;
    }
    cli_put_text(stderr, s, strlen(s), false);
    fputc('\n', stderr);
    json_array_foreach(errors, i, item) {
        fputs("  ", stderr);
        cli_put_value(stderr, item);
        fputc('\n', stderr);
    }
}

/* ------------------------------------------------------------------------ */
/* conference printers                                                       */

/* "3/50": participants out of max_participants, or what there is. */
static void
cli_table_occupancy(struct cli_table *t, const json_t *conf)
{
    json_t *n = json_object_get(conf, "participants");
    json_t *max = json_object_get(conf, "max_participants");
    char cell[64];

    if (!json_is_integer(n) || !json_is_integer(max)) {
        cli_table_value(t, n);
        return;
    }
    snprintf(cell, sizeof(cell), "%" JSON_INTEGER_FORMAT "/%"
             JSON_INTEGER_FORMAT, json_integer_value(n),
             json_integer_value(max));
    cli_table_text(t, cell);
}

/* Epoch seconds (joined_at, expires) as local ISO 8601 time,
 * "2024-05-01T12:00:03": who joined when is read against the local clock.
 * @return false, @p buf untouched, if @p v is no such time. */
static bool
cli_format_time(char *buf, size_t size, const json_t *v)
{
    struct tm tm;
    time_t when;
    double secs = json_number_value(v);     /* 0 unless a number */

    /* The range check keeps the conversion to time_t defined. */
    if (!json_is_number(v) || !(secs >= 0 && secs < 1e12))
        return false;
    when = (time_t) secs;
    return localtime_r(&when, &tm) != NULL
        && strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm) != 0;
}

static void
cli_table_time(struct cli_table *t, const json_t *v)
{
    char cell[64];

    if (cli_format_time(cell, sizeof(cell), v))
        cli_table_text(t, cell);
    else
        cli_table_value(t, v);
}

static void
cli_print_conf_list(struct cli *c, json_t *req, json_t *data)
{
    static const char *const head[] = {
        "NAME", "USER", "PARTICIPANTS", "MESSAGES", "FAILURES", NULL
    };
    static const char *const known[] = { "conferences", NULL };
    json_t *confs = json_object_get(data, "conferences");
    struct cli_table t;
    json_t *conf;
    size_t i;

    if (!json_is_array(confs)) {
        cli_print_generic(c, req, data);
        return;
    }
    if (json_array_size(confs) == 0) {
        puts("no conferences");
    } else {
        cli_table_init(&t, head);
        json_array_foreach(confs, i, conf) {
            cli_table_value(&t, json_object_get(conf, "name"));
            cli_table_value(&t, json_object_get(conf, "user"));
            cli_table_occupancy(&t, conf);
            cli_table_value(&t, json_object_get(conf, "messages"));
            cli_table_value(&t, json_object_get(conf, "failures"));
        }
        cli_table_print(stdout, &t);
        cli_table_free(&t);
    }
    cli_print_rest(stdout, data, known);
}

static void
cli_print_participants(FILE *out, json_t *parts)
{
    static const char *const head[] = {
        "ID", "DISPLAY NAME", "URI", "JOINED", "STATE", "SENT", "RECEIVED",
        "FAILURES", NULL
    };
    struct cli_table t;
    json_t *p;
    size_t i;

    if (json_array_size(parts) == 0) {
        fputs("no participants\n", out);
        return;
    }
    cli_table_init(&t, head);
    json_array_foreach(parts, i, p) {
        cli_table_value(&t, json_object_get(p, "id"));
        cli_table_value(&t, json_object_get(p, "display_name"));
        cli_table_value(&t, json_object_get(p, "uri"));
        cli_table_time(&t, json_object_get(p, "joined_at"));
        cli_table_value(&t, json_object_get(p, "state"));
        cli_table_value(&t, json_object_get(p, "messages_sent"));
        cli_table_value(&t, json_object_get(p, "messages_received"));
        cli_table_value(&t, json_object_get(p, "failures"));
    }
    cli_table_print(out, &t);
    cli_table_free(&t);
}

/* "conference NAME (user USER)" and "participants: N of MAX"; the other
 * counters follow generically, so new ones show without a new CLI. */
static void
cli_print_conf_head(FILE *out, json_t *data)
{
    json_t *user = json_object_get(data, "user");
    json_t *n = json_object_get(data, "participants");
    json_t *max = json_object_get(data, "max_participants");

    fputs("conference ", out);
    cli_put_value(out, json_object_get(data, "name"));
    if (user != NULL) {
        fputs(" (user ", out);
        cli_put_value(out, user);
        fputc(')', out);
    }
    fputc('\n', out);
    if (n != NULL) {
        fputs("participants: ", out);
        cli_put_value(out, n);
        if (max != NULL) {
            fputs(" of ", out);
            cli_put_value(out, max);
        }
        fputc('\n', out);
    }
}

static void
cli_print_conf_show(struct cli *c, json_t *req, json_t *data)
{
    static const char *const known[] = {
        "name", "user", "participants", "max_participants",
        "participant_list", NULL
    };
    json_t *parts = json_object_get(data, "participant_list");

    if (!json_is_object(data) || json_object_get(data, "name") == NULL) {
        cli_print_generic(c, req, data);
        return;
    }
    cli_print_conf_head(stdout, data);
    cli_print_rest(stdout, data, known);
    fputc('\n', stdout);
    if (json_is_array(parts))
        cli_print_participants(stdout, parts);
    else if (parts != NULL)
        cli_print_field(stdout, 0, "participant_list", parts);
}

static void
cli_print_conf_send(struct cli *c, json_t *req, json_t *data)
{
    static const char *const known[] = { "delivered_to", NULL };
    json_t *n = json_object_get(data, "delivered_to");

    (void) c;
    (void) req;
    if (n != NULL) {
        fputs("delivered to ", stdout);
        cli_put_value(stdout, n);
        fputs(" participant(s)\n", stdout);
    }
    cli_print_rest(stdout, data, known);
}

static void
cli_print_conf_kick(struct cli *c, json_t *req, json_t *data)
{
    static const char *const known[] = { "kicked", NULL };
    json_t *id = json_object_get(data, "kicked");

    (void) c;
    /* The daemon echoes the id; an older one might not. */
    fputs("kicked participant ", stdout);
    cli_put_value(stdout, id != NULL ? id : json_object_get(req, "id"));
    fputc('\n', stdout);
    cli_print_rest(stdout, data, known);
}

/* ------------------------------------------------------------------------ */
/* state exchange printers                                                   */

/* A cell for a boolean: @p yes if true, @p no if false, else the value. */
static void
cli_table_bool(struct cli_table *t, const json_t *v, const char *yes,
               const char *no)
{
    if (json_is_boolean(v))
        cli_table_text(t, json_is_true(v) ? yes : no);
    else
        cli_table_value(t, v);
}

/* The first cells of an entity's rows: @p n of them from @p entity's
 * @p keys on its first row, blank on the others. */
static void
cli_table_lead(struct cli_table *t, json_t *entity, const char *const *keys,
               size_t n, bool first)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (first)
            cli_table_value(t, json_object_get(entity, keys[i]));
        else
            cli_table_text(t, "");
    }
}

/* One row per eid of a device (one with "-" if it has none). */
static void
cli_table_device(struct cli_table *t, json_t *dev)
{
    static const char *const lead[] = { "device", "state" };
    json_t *eids = json_object_get(dev, "eids");
    json_t *e;
    size_t i;

    if (json_array_size(eids) == 0) {
        cli_table_lead(t, dev, lead, 2, true);
        for (i = 0; i < 4; i++)
            cli_table_value(t, NULL);   /* "-" */
        return;
    }
    json_array_foreach(eids, i, e) {
        cli_table_lead(t, dev, lead, 2, i == 0);
        cli_table_value(t, json_object_get(e, "eid"));
        cli_table_value(t, json_object_get(e, "state"));
        cli_table_bool(t, json_object_get(e, "local"), "local", "remote");
        cli_table_bool(t, json_object_get(e, "cachable"), "yes", "no");
    }
}

static void
cli_print_state_devices(struct cli *c, json_t *req, json_t *data)
{
    static const char *const head[] = {
        "DEVICE", "STATE", "EID", "EID STATE", "ORIGIN", "CACHABLE", NULL
    };
    static const char *const known[] = { "devices", NULL };
    json_t *devs = json_object_get(data, "devices");
    struct cli_table t;
    json_t *dev;
    size_t i;

    if (!json_is_array(devs)) {
        cli_print_generic(c, req, data);
        return;
    }
    if (json_array_size(devs) == 0) {
        puts("no devices");
    } else {
        cli_table_init(&t, head);
        json_array_foreach(devs, i, dev)
            cli_table_device(&t, dev);
        cli_table_print(stdout, &t);
        cli_table_free(&t);
    }
    cli_print_rest(stdout, data, known);
}

/* One row per eid of a mailbox (one with "-" if it has none). */
static void
cli_table_mailbox(struct cli_table *t, json_t *mbox)
{
    static const char *const lead[] = { "mailbox", "new", "old" };
    json_t *eids = json_object_get(mbox, "eids");
    json_t *e;
    size_t i;

    if (json_array_size(eids) == 0) {
        cli_table_lead(t, mbox, lead, 3, true);
        for (i = 0; i < 4; i++)
            cli_table_value(t, NULL);   /* "-" */
        return;
    }
    json_array_foreach(eids, i, e) {
        cli_table_lead(t, mbox, lead, 3, i == 0);
        cli_table_value(t, json_object_get(e, "eid"));
        cli_table_value(t, json_object_get(e, "new"));
        cli_table_value(t, json_object_get(e, "old"));
        cli_table_bool(t, json_object_get(e, "local"), "local", "remote");
    }
}

static void
cli_print_state_mailboxes(struct cli *c, json_t *req, json_t *data)
{
    static const char *const head[] = {
        "MAILBOX", "NEW", "OLD", "EID", "EID NEW", "EID OLD", "ORIGIN", NULL
    };
    static const char *const known[] = { "mailboxes", NULL };
    json_t *mboxes = json_object_get(data, "mailboxes");
    struct cli_table t;
    json_t *mbox;
    size_t i;

    if (!json_is_array(mboxes)) {
        cli_print_generic(c, req, data);
        return;
    }
    if (json_array_size(mboxes) == 0) {
        puts("no mailboxes");
    } else {
        cli_table_init(&t, head);
        json_array_foreach(mboxes, i, mbox)
            cli_table_mailbox(&t, mbox);
        cli_table_print(stdout, &t);
        cli_table_free(&t);
    }
    cli_print_rest(stdout, data, known);
}

/* "device NAME set to" or, when nothing changed, "device NAME already". */
static void
cli_print_set_head(FILE *out, json_t *data, const char *kind, json_t *name)
{
    fprintf(out, "%s ", kind);
    if (name != NULL)
        cli_put_value(out, name);
    else
        fputc('?', out);
    fputs(json_is_false(json_object_get(data, "changed")) ? " already "
                                                          : " set to ", out);
}

static void
cli_print_state_set_device(struct cli *c, json_t *req, json_t *data)
{
    static const char *const known[] = {
        "device", "state", "aggregate", "changed", NULL
    };
    json_t *name = json_object_get(data, "device");
    json_t *state = json_object_get(data, "state");
    json_t *aggregate = json_object_get(data, "aggregate");

    (void) c;
    cli_print_set_head(stdout, data, "device",
                       name != NULL ? name : json_object_get(req, "device"));
    cli_put_value(stdout, state != NULL ? state
                                        : json_object_get(req, "state"));
    if (aggregate != NULL) {
        fputs(", aggregate ", stdout);
        cli_put_value(stdout, aggregate);
    }
    fputc('\n', stdout);
    cli_print_rest(stdout, data, known);
}

static void
cli_print_state_set_mailbox(struct cli *c, json_t *req, json_t *data)
{
    static const char *const known[] = {
        "mailbox", "new", "old", "changed", NULL
    };
    json_t *name = json_object_get(data, "mailbox");
    json_t *nw = json_object_get(data, "new");
    json_t *old = json_object_get(data, "old");

    (void) c;
    cli_print_set_head(stdout, data, "mailbox",
                       name != NULL ? name : json_object_get(req, "mailbox"));
    cli_put_value(stdout, nw != NULL ? nw : json_object_get(req, "new"));
    fputs(" new, ", stdout);
    cli_put_value(stdout, old != NULL ? old : json_object_get(req, "old"));
    fputs(" old\n", stdout);
    cli_print_rest(stdout, data, known);
}

/* "503 Service Unavailable", or "-" before the first response.  The
 * reason is the peer's text: escaped like every cell. */
static void
cli_table_response(struct cli_table *t, const json_t *resp)
{
    json_t *code = json_object_get(resp, "code");
    json_t *reason = json_object_get(resp, "reason");
    char *cell = NULL;
    size_t size;
    FILE *f;

    if (!json_is_integer(code) || !json_is_string(reason)) {
        cli_table_value(t, json_is_null(resp) ? NULL : resp);
        return;
    }
    f = open_memstream(&cell, &size);
    if (f != NULL) {
        fprintf(f, "%" JSON_INTEGER_FORMAT " ", json_integer_value(code));
        cli_put_value(f, reason);
        if (fclose(f) != 0) {
            free(cell);
            cell = NULL;
        }
    }
    cli_table_add(t, cell);
}

/* "refresh in 59m58s", "retry in 2s", or "-" when nothing is scheduled. */
static void
cli_table_next(struct cli_table *t, const json_t *target)
{
    json_t *refresh = json_object_get(target, "next_refresh");
    json_t *retry = json_object_get(target, "retry_in");
    const json_t *v = json_is_number(retry) ? retry : refresh;
    char dur[64], cell[96];

    if (!json_is_number(v)) {
        cli_table_value(t, NULL);
        return;
    }
    /* Rounded up: "retry in 0s" would read as "now". */
    cli_format_duration(dur, sizeof(dur), json_number_value(v) + 0.999);
    snprintf(cell, sizeof(cell), "%s in %s", v == retry ? "retry" : "refresh",
             dur);
    cli_table_text(t, cell);
}

static void
cli_print_targets(FILE *out, json_t *targets)
{
    static const char *const head[] = {
        "NAME", "EVENT", "SERVER URI", "STATE", "LAST RESPONSE", "NEXT",
        "QUEUED", "SENT", "OK", "FAILED", NULL
    };
    static const char *const counters[] = { "queued", "sent", "ok", "failed" };
    struct cli_table t;
    json_t *tg;
    size_t i, k;

    if (json_array_size(targets) == 0) {
        fputs("no publish targets\n", out);
        return;
    }
    cli_table_init(&t, head);
    json_array_foreach(targets, i, tg) {
        cli_table_value(&t, json_object_get(tg, "name"));
        cli_table_value(&t, json_object_get(tg, "event"));
        cli_table_value(&t, json_object_get(tg, "server_uri"));
        cli_table_value(&t, json_object_get(tg, "state"));
        cli_table_response(&t, json_object_get(tg, "last_response"));
        cli_table_next(&t, tg);
        for (k = 0; k < 4; k++)
            cli_table_value(&t, json_object_get(tg, counters[k]));
    }
    cli_table_print(out, &t);
    cli_table_free(&t);
}

/* "entity id 26:67:3d:32:b9:b4 (generated)", the counters as "key: value",
 * then the targets' table. */
static void
cli_print_publish_status(struct cli *c, json_t *req, json_t *data)
{
    static const char *const known[] = {
        "entity_id", "entity_id_source", "targets", NULL
    };
    json_t *eid = json_object_get(data, "entity_id");
    json_t *source = json_object_get(data, "entity_id_source");
    json_t *targets = json_object_get(data, "targets");

    if (!json_is_object(data) || eid == NULL) {
        cli_print_generic(c, req, data);
        return;
    }
    fputs("entity id ", stdout);
    cli_put_value(stdout, eid);
    if (source != NULL) {
        fputs(" (", stdout);
        cli_put_value(stdout, source);
        fputc(')', stdout);
    }
    fputc('\n', stdout);
    cli_print_rest(stdout, data, known);
    if (!json_is_array(targets)) {
        if (targets != NULL)
            cli_print_field(stdout, 0, "targets", targets);
        return;
    }
    fputc('\n', stdout);
    cli_print_targets(stdout, targets);
}

/* ------------------------------------------------------------------------ */
/* MWI printers                                                              */

/* "mwi NAME: enabled, ready", or "mwi: disabled (no type=mwi section)". */
static void
cli_print_mwi_head(FILE *out, json_t *data)
{
    json_t *name = json_object_get(data, "name");
    json_t *ready = json_object_get(data, "ready");

    fputs("mwi", out);
    if (name != NULL) {
        fputc(' ', out);
        cli_put_value(out, name);
    }
    if (json_is_false(json_object_get(data, "enabled"))) {
        fputs(": disabled (no type=mwi section)\n", out);
        return;
    }
    fputs(": enabled", out);
    if (json_is_boolean(ready))
        fputs(json_is_true(ready) ? ", ready" : ", not ready", out);
    fputc('\n', out);
}

/* The database line: the core's status as "status" prints it, or, without
 * it, "database pg1: connected" / "not connected". */
static void
cli_print_mwi_database(FILE *out, json_t *data)
{
    json_t *status = json_object_get(data, "database_status");
    json_t *name = json_object_get(data, "database");
    json_t *conn = json_object_get(data, "database_connected");

    if (json_is_object(status)) {
        cli_print_database(out, status);
        return;
    }
    if (name == NULL)
        return;
    fputs("database ", out);
    cli_put_value(out, name);
    if (json_is_boolean(conn))
        fputs(json_is_true(conn) ? ": connected" : ": not connected", out);
    fputc('\n', out);
}

/* "table: active_watchers (flavour kamailio)" and "proxy: sip:...". */
static void
cli_print_mwi_target(FILE *out, json_t *data)
{
    json_t *table = json_object_get(data, "table");
    json_t *flavour = json_object_get(data, "flavour");
    json_t *proxy = json_object_get(data, "proxy");

    if (table != NULL) {
        fputs("table: ", out);
        cli_put_value(out, table);
        if (flavour != NULL) {
            fputs(" (flavour ", out);
            cli_put_value(out, flavour);
            fputc(')', out);
        }
        fputc('\n', out);
    }
    if (proxy != NULL) {
        fputs("proxy: ", out);
        cli_put_value(out, proxy);
        fputc('\n', out);
    }
}

/* The fixed lines, then pending, in-flight counts and counters as
 * "key: value", so that those a newer daemon adds show too. */
static void
cli_print_mwi_status(struct cli *c, json_t *req, json_t *data)
{
    static const char *const known[] = {
        "enabled", "name", "ready", "database", "database_connected",
        "database_status", "table", "flavour", "proxy", NULL
    };

    if (!json_is_boolean(json_object_get(data, "enabled"))) {
        cli_print_generic(c, req, data);
        return;
    }
    cli_print_mwi_head(stdout, data);
    cli_print_mwi_database(stdout, data);
    cli_print_mwi_target(stdout, data);
    cli_print_rest(stdout, data, known);
}

/* "USER@DOMAIN", from the reply or else from the request. */
static void
cli_put_mwi_mailbox(FILE *out, json_t *req, json_t *data)
{
    json_t *user = json_object_get(data, "user");
    json_t *domain = json_object_get(data, "domain");

    cli_put_value(out, user != NULL ? user : json_object_get(req, "user"));
    fputc('@', out);
    cli_put_value(out, domain != NULL ? domain
                                      : json_object_get(req, "domain"));
}

/* "2 new, 5 old", then " (urgent 1 new, 0 old)" if they were given. */
static void
cli_put_mwi_counts(FILE *out, json_t *req)
{
    json_t *un = json_object_get(req, "urgent_new");

    cli_put_value(out, json_object_get(req, "new"));
    fputs(" new, ", out);
    cli_put_value(out, json_object_get(req, "old"));
    fputs(" old", out);
    if (un != NULL) {
        fputs(" (urgent ", out);
        cli_put_value(out, un);
        fputs(" new, ", out);
        cli_put_value(out, json_object_get(req, "urgent_old"));
        fputs(" old)", out);
    }
}

static void
cli_print_mwi_notify(struct cli *c, json_t *req, json_t *data)
{
    static const char *const known[] = { "user", "domain", "queued", NULL };

    (void) c;
    fputs(json_is_false(json_object_get(data, "queued")) ? "not queued "
                                                         : "queued ", stdout);
    cli_put_mwi_mailbox(stdout, req, data);
    fputs(": ", stdout);
    cli_put_mwi_counts(stdout, req);
    fputc('\n', stdout);
    cli_print_rest(stdout, data, known);
}

/* "2024-05-01T13:00:00 (in 3541s)" or "(expired 12s ago)". */
static void
cli_put_mwi_expires(FILE *out, json_t *w)
{
    json_t *abs = json_object_get(w, "expires");
    json_t *in = json_object_get(w, "expires_in");
    json_int_t left = json_integer_value(in);
    char when[64];

    if (cli_format_time(when, sizeof(when), abs))
        fputs(when, out);
    else
        cli_put_value(out, abs);
    if (!json_is_integer(in))
        return;
    if (left >= 0)
        fprintf(out, " (in %" JSON_INTEGER_FORMAT "s)", left);
    else
        fprintf(out, " (expired %" JSON_INTEGER_FORMAT "s ago)", -left);
}

/* active_watchers.status: 1 active, 2 pending, 3 terminated, 4 waiting. */
static void
cli_put_mwi_status(FILE *out, json_t *status)
{
    static const char *const names[] = {
        NULL, "active", "pending", "terminated", "waiting"
    };
    json_int_t n = json_integer_value(status);

    if (json_is_integer(status) && n >= 1 && n <= 4)
        fprintf(out, "%s (%" JSON_INTEGER_FORMAT ")", names[n], n);
    else
        cli_put_value(out, status);
}

/* "7 (next 8)": the CSeq of the last NOTIFY sent, and the next one's. */
static void
cli_put_mwi_cseq(FILE *out, json_t *w)
{
    json_t *next = json_object_get(w, "next_cseq");

    cli_put_value(out, json_object_get(w, "cseq"));
    if (next != NULL) {
        fputs(" (next ", out);
        cli_put_value(out, next);
        fputc(')', out);
    }
}

/* The value of the watcher's field @p key as shown; missing or empty
 * ones are "-". */
static void
cli_put_mwi_field(FILE *out, json_t *w, const char *key)
{
    json_t *v = json_object_get(w, key);

    if (strcmp(key, "expires") == 0) {
        cli_put_mwi_expires(out, w);
    } else if (strcmp(key, "cseq") == 0) {
        cli_put_mwi_cseq(out, w);
    } else if (strcmp(key, "status") == 0) {
        cli_put_mwi_status(out, v);
    } else if (strcmp(key, "live") == 0 && json_is_boolean(v)) {
        fputs(json_is_true(v) ? "yes" : "no", out);
    } else if (strcmp(key, "subscriber") == 0 && v != NULL) {
        cli_put_value(out, v);
        fputc('@', out);
        cli_put_value(out, json_object_get(w, "subscriber_domain"));
    } else if (v == NULL || (json_is_string(v) && json_string_length(v) == 0)
               || json_is_null(v)) {
        fputc('-', out);
    } else {
        cli_put_value(out, v);
    }
}

/* One subscription as a block of "Label: value" lines. */
static void
cli_print_mwi_watcher(FILE *out, json_t *w)
{
    static const char *const rows[][2] = {
        { "To tag:", "to_tag" }, { "From tag:", "from_tag" },
        { "Call-ID:", "callid" }, { "Expires:", "expires" },
        { "CSeq:", "cseq" }, { "Status:", "status" }, { "Live:", "live" },
        { "Subscriber:", "subscriber" }, { "Contact:", "contact" },
        { "Record-Route:", "record_route" },
        { "Local contact:", "local_contact" }, { "Event id:", "event_id" },
    };
    static const char *const known[] = {
        "id", "to_tag", "from_tag", "callid", "expires", "expires_in", "cseq",
        "next_cseq", "status", "live", "subscriber", "subscriber_domain",
        "contact", "record_route", "local_contact", "event_id", NULL
    };
    const char *key;
    json_t *v;
    size_t i;

    fputs("subscription ", out);
    cli_put_value(out, json_object_get(w, "id"));
    fputc('\n', out);
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        fprintf(out, "  %-15s", rows[i][0]);
        cli_put_mwi_field(out, w, rows[i][1]);
        fputc('\n', out);
    }
    json_object_foreach(w, key, v) {
        if (!cli_in_list(known, key))
            cli_print_field(out, 2, key, v);
    }
}

/* "sip:1000@example.com: 2 subscriptions", then a block per watcher. */
static void
cli_print_mwi_show(struct cli *c, json_t *req, json_t *data)
{
    static const char *const known[] = { "presentity", "watchers", NULL };
    json_t *pres = json_object_get(data, "presentity");
    json_t *watchers = json_object_get(data, "watchers");
    size_t i, n = json_array_size(watchers);
    json_t *w;

    if (!json_is_array(watchers)) {
        cli_print_generic(c, req, data);
        return;
    }
    if (pres != NULL)
        cli_put_value(stdout, pres);
    else
        cli_put_mwi_mailbox(stdout, req, data);
    if (n == 0)
        fputs(": no subscriptions\n", stdout);
    else
        printf(": %zu subscription%s\n", n, n == 1 ? "" : "s");
    cli_print_rest(stdout, data, known);
    json_array_foreach(watchers, i, w) {
        fputc('\n', stdout);
        if (json_is_object(w))
            cli_print_mwi_watcher(stdout, w);
        else
            cli_print_field(stdout, 0, "subscription", w);
    }
}

/* ------------------------------------------------------------------------ */
/* SIP API printers                                                          */

/* qsort() order of handles: by handle_id, those without one last. */
static int
cli_handle_cmp(const void *a, const void *b)
{
    json_t *ia = json_object_get(*(json_t *const *) a, "handle_id");
    json_t *ib = json_object_get(*(json_t *const *) b, "handle_id");
    json_int_t va = json_is_integer(ia) ? json_integer_value(ia) : LLONG_MAX;
    json_int_t vb = json_is_integer(ib) ? json_integer_value(ib) : LLONG_MAX;

    return (va > vb) - (va < vb);
}

/* A cell for @p key of @p obj: "-" when missing, empty or null ("username"
 * is null before the first register). */
static void
cli_table_field(struct cli_table *t, json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);

    cli_table_value(t, json_is_null(v) ? NULL : v);
}

/* One row: a helper's ACCOUNT and MASTER ID are its master's, HELPER OF
 * the master's handle. */
static void
cli_table_handle(struct cli_table *t, json_t *h)
{
    cli_table_field(t, h, "handle_id");
    cli_table_field(t, h, "username");
    cli_table_field(t, h, "registration");
    cli_table_bool(t, json_object_get(h, "client_connected"), "connected",
                   "away");
    cli_table_field(t, h, "master_id");
    cli_table_field(t, h, "master_handle");
}

/* The daemon lists the newest first; people read them by id. */
static void
cli_print_handle_table(FILE *out, json_t *handles)
{
    static const char *const head[] = {
        "HANDLE", "ACCOUNT", "REGISTRATION", "CLIENT", "MASTER ID",
        "HELPER OF", NULL
    };
    size_t i, n = json_array_size(handles);
    json_t **rows = calloc(n, sizeof(*rows));
    struct cli_table t;

    if (rows == NULL) {
        cli_errorf("cannot format the table: out of memory");
        return;
    }
    for (i = 0; i < n; i++)
        rows[i] = json_array_get(handles, i);
    qsort(rows, n, sizeof(*rows), cli_handle_cmp);
    cli_table_init(&t, head);
    for (i = 0; i < n; i++)
        cli_table_handle(&t, rows[i]);
    cli_table_print(out, &t);
    cli_table_free(&t);
    free(rows);
}

static void
cli_print_handles(struct cli *c, json_t *req, json_t *data)
{
    static const char *const known[] = { "handles", NULL };
    json_t *handles = json_object_get(data, "handles");

    if (!json_is_array(handles)) {
        cli_print_generic(c, req, data);
        return;
    }
    if (json_array_size(handles) == 0)
        puts("no handles");
    else
        cli_print_handle_table(stdout, handles);
    cli_print_rest(stdout, data, known);
}

/* ------------------------------------------------------------------------ */
/* events                                                                    */

static bool
cli_is_event(json_t *msg)
{
    const char *sb = json_string_value(json_object_get(msg, "sipbridge"));
    const char *sip = json_string_value(json_object_get(msg, "sip"));

    /* json_string_value() is NULL for anything but a string */
    return (sb != NULL && strcmp(sb, "event") == 0)
        || (sip != NULL && strcmp(sip, "event") == 0);
}

/* " key=value" for each member of @p obj not named in @p skip. */
static void
cli_put_members(FILE *out, json_t *obj, const char *const *skip)
{
    const char *key;
    json_t *v;

    json_object_foreach(obj, key, v) {
        if (cli_in_list(skip, key))
            continue;
        fprintf(out, " %s=", key);
        cli_put_word(out, v);
    }
}

/* " EVENT": the name of an event's result, if it has one. */
static void
cli_put_event_name(FILE *out, json_t *result)
{
    json_t *name = json_object_get(result, "event");

    if (name != NULL) {
        fputc(' ', out);
        cli_put_word(out, name);
    }
}

/* " key=value..." for the result's fields but its name (and those in
 * @p skip, if not NULL); a result that is not an object is
 * " result=VALUE". */
static void
cli_put_event_fields(FILE *out, json_t *result, const char *const *skip)
{
    static const char *const name_only[] = { "event", NULL };

    if (json_is_object(result)) {
        cli_put_members(out, result, skip != NULL ? skip : name_only);
    } else if (result != NULL) {
        fputs(" result=", out);
        cli_put_word(out, result);
    }
}

/* The SIP API's payload ({"sip":"event","handle_id":H,"result":{...}}):
 * the event itself on a client's own handles, the "result" of an event
 * on the topic "sip".  NULL for other events. */
static json_t *
cli_sip_payload(json_t *ev)
{
    const char *topic = json_string_value(json_object_get(ev, "topic"));
    json_t *result = json_object_get(ev, "result");

    if (json_object_get(ev, "sip") != NULL)
        return ev;
    if (topic != NULL && strcmp(topic, "sip") == 0 && json_is_object(result)
        && json_object_get(result, "sip") != NULL)
        return result;
    return NULL;
}

/* "sip EVENT handle_id=H call_id=C key=value...": the ids first, then the
 * payload's other members (error_code, error, jsep...), then the result's
 * fields, but a call_id that repeats the payload's (incomingcall).  The
 * same line whether the event is our own or came on "sip". */
static void
cli_print_sip_event(FILE *out, json_t *p)
{
    static const char *const skip[] = {
        "sipbridge", "sip", "topic", "result", "handle_id", "call_id", NULL
    };
    static const char *const ids[] = { "handle_id", "call_id", NULL };
    static const char *const same_call[] = { "event", "call_id", NULL };
    json_t *result = json_object_get(p, "result");
    json_t *call_id = json_object_get(p, "call_id");
    bool same = call_id != NULL
                && json_equal(call_id, json_object_get(result, "call_id"));
    json_t *v;
    size_t i;

    fputs("sip", out);
    cli_put_event_name(out, result);
    for (i = 0; ids[i] != NULL; i++) {
        if ((v = json_object_get(p, ids[i])) != NULL) {
            fprintf(out, " %s=", ids[i]);
            cli_put_word(out, v);
        }
    }
    cli_put_members(out, p, skip);
    cli_put_event_fields(out, result, same ? same_call : NULL);
    fputc('\n', out);
}

/* "TOPIC EVENT key=value..." for sipbridge events, "sip EVENT handle_id=..
 * call_id=.. key=value..." for SIP ones (own or on the topic "sip"). */
static void
cli_print_event_human(FILE *out, json_t *ev)
{
    static const char *const envelope[] = {
        "sipbridge", "sip", "topic", "result", NULL
    };
    json_t *sip = cli_sip_payload(ev);
    json_t *topic = json_object_get(ev, "topic");
    json_t *result = json_object_get(ev, "result");

    if (sip != NULL) {
        cli_print_sip_event(out, sip);
        return;
    }
    if (topic != NULL)
        cli_put_value(out, topic);
    else
        fputc('?', out);
    cli_put_event_name(out, result);
    cli_put_members(out, ev, envelope);
    cli_put_event_fields(out, result, NULL);
    fputc('\n', out);
}

/* ------------------------------------------------------------------------ */
/* connection and line I/O                                                   */

static int64_t
cli_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* @return the absolute deadline for the configured timeout, -1 for none. */
static int64_t
cli_deadline(struct cli *c)
{
    if (c->timeout <= 0)
        return -1;
    return cli_now_ms() + (int64_t) (c->timeout * 1000.0 + 0.999);
}

/* poll() timeout left until @p deadline (-1 = infinite). */
static int
cli_poll_timeout(int64_t deadline)
{
    int64_t left;

    if (deadline < 0)
        return -1;
    left = deadline - cli_now_ms();
    if (left <= 0)
        return 0;
    return left > INT32_MAX ? INT32_MAX : (int) left;
}

static int
cli_connect(struct cli *c)
{
    struct sockaddr_un sa;
    struct timeval tv;
    int fd, saved;

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(c->socket_path) >= sizeof(sa.sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(sa.sun_path, c->socket_path, strlen(c->socket_path));

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    /* A daemon whose accept backlog is full makes connect() block; the send
     * timeout bounds that wait on Linux. */
    if (c->timeout > 0) {
        tv.tv_sec = (time_t) c->timeout;
        tv.tv_usec = (suseconds_t) ((c->timeout - (double) tv.tv_sec) * 1e6);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    }
    if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0) {
        saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    c->fd = fd;
    return 0;
}

/* Write all of @p data, waiting for room no later than @p deadline. */
static int
cli_write_all(struct cli *c, const char *data, size_t len, int64_t deadline)
{
    struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };
    ssize_t n;
    int r;

    while (len > 0) {
        /* MSG_DONTWAIT + poll keeps us bounded; MSG_NOSIGNAL turns a
         * vanished daemon into EPIPE instead of killing us. */
        n = send(c->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            data += n;
            len -= (size_t) n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return -1;
        r = poll(&pfd, 1, cli_poll_timeout(deadline));
        if (r == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        if (r < 0 && errno != EINTR)
            return -1;
    }
    return 0;
}

/* Make room for at least CLI_READ_CHUNK more bytes, dropping consumed ones. */
static int
cli_buf_reserve(struct cli *c)
{
    size_t cap;
    char *p;

    if (c->start > 0) {
        memmove(c->buf, c->buf + c->start, c->len - c->start);
        c->len -= c->start;
        c->start = 0;
    }
    if (c->cap - c->len >= CLI_READ_CHUNK)
        return 0;
    cap = c->cap > 0 ? c->cap * 2 : 2 * CLI_READ_CHUNK;
    p = realloc(c->buf, cap + 1);   /* +1: room for a terminating NUL */
    if (p == NULL)
        return -1;
    c->buf = p;
    c->cap = cap;
    return 0;
}

/* Cut the next complete line out of the buffer, NUL-terminated. */
static bool
cli_take_line(struct cli *c, char **line, size_t *len)
{
    char *nl;

    if (c->len == c->start)
        return false;
    nl = memchr(c->buf + c->start, '\n', c->len - c->start);
    if (nl == NULL)
        return false;
    *nl = '\0';
    *line = c->buf + c->start;
    *len = (size_t) (nl - *line);
    c->start = (size_t) (nl - c->buf) + 1;
    return true;
}

/* On EOF, hand out an unterminated last line rather than lose it. */
static bool
cli_take_tail(struct cli *c, char **line, size_t *len)
{
    if (c->len == c->start)
        return false;
    c->buf[c->len] = '\0';
    *line = c->buf + c->start;
    *len = c->len - c->start;
    c->start = c->len;
    return true;
}

/* Wait (until @p deadline, -1 = forever) for the next line of any length. */
static enum cli_io
cli_read_line(struct cli *c, int64_t deadline, char **line, size_t *len)
{
    struct pollfd pfd[3];
    ssize_t n;
    int r;

    for (;;) {
        if (cli_take_line(c, line, len))
            return CLI_IO_LINE;
        if (cli_buf_reserve(c) != 0)
            return CLI_IO_ERROR;

        pfd[0] = (struct pollfd) { .fd = c->fd, .events = POLLIN };
        pfd[1] = (struct pollfd) { .fd = c->sigfd, .events = POLLIN };
        /* events 0: only POLLERR/POLLHUP, i.e. the pipe reader went away */
        pfd[2] = (struct pollfd) { .fd = c->outfd, .events = 0 };
        r = poll(pfd, 3, cli_poll_timeout(deadline));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return CLI_IO_ERROR;
        if (r == 0)
            return CLI_IO_TIMEOUT;
        if (pfd[1].revents != 0)
            return CLI_IO_SIGNAL;
        if (pfd[2].revents != 0)
            return CLI_IO_OUTPUT_GONE;

        n = read(c->fd, c->buf + c->len, c->cap - c->len);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n < 0)
            return CLI_IO_ERROR;
        if (n == 0)
            return cli_take_tail(c, line, len) ? CLI_IO_LINE : CLI_IO_EOF;
        c->len += (size_t) n;
    }
}

/* Print a line from the daemon as it came: re-encoding would reorder
 * nothing but could change numbers (0.1 -> 0.10000000000000001).  Flushed,
 * so pipes see events at once. */
static void
cli_emit_line(const char *line, size_t len)
{
    if (len > 0 && line[len - 1] == '\r')
        len--;
    fwrite(line, 1, len, stdout);
    fputc('\n', stdout);
    fflush(stdout);
}

/* ------------------------------------------------------------------------ */
/* request/reply                                                             */

/* Stamp @p req with a transaction unless it carries one (raw requests may),
 * and remember it for matching the reply. */
static void
cli_set_transaction(struct cli *c, json_t *req)
{
    char id[64];
    json_t *t = json_object_get(req, "transaction");

    if (t == NULL) {
        snprintf(id, sizeof(id), "ctl-%ld-%lu", (long) getpid(), ++c->seq);
        t = json_string(id);
        json_object_set_new(req, "transaction", t);
    }
    json_decref(c->txn);
    c->txn = json_incref(t);
}

static int
cli_send_request(struct cli *c, json_t *req, int64_t deadline)
{
    char *line;
    size_t len;
    int rc;

    cli_set_transaction(c, req);
    line = json_dumps(req, JSON_COMPACT);
    if (line == NULL) {
        cli_errorf("cannot encode the request");
        return CLI_EXIT_UNREACHABLE;
    }
    len = strlen(line);
    line[len] = '\n';   /* replaces the NUL; the line is sent by length */
    rc = cli_write_all(c, line, len + 1, deadline);
    free(line);
    /* A daemon that refused us (463, 464) said why before it closed: the
     * reply is read like any other. */
    if (rc != 0 && errno != EPIPE && errno != ECONNRESET) {
        cli_errorf("cannot send request to %s: %s", c->socket_path,
                   strerror(errno));
        return CLI_EXIT_UNREACHABLE;
    }
    return CLI_EXIT_OK;
}

/* Is @p msg the reply to our pending request? */
static bool
cli_is_our_reply(struct cli *c, json_t *msg)
{
    json_t *t = json_object_get(msg, "transaction");

    /* An error without a transaction is about the connection (refused
     * client, line too long): ours too. */
    return json_is_object(msg)
        && json_object_get(msg, "response") != NULL
        && (json_equal(t, c->txn) ||
            (t == NULL && json_is_integer(json_object_get(msg, "error_code"))));
}

/* Read until our reply arrives; events and foreign lines are skipped.
 * @return the reply (new reference) and, in @p line, its text (valid until
 * the next read), or NULL after reporting why. */
static json_t *
cli_wait_reply(struct cli *c, int64_t deadline, char **line, size_t *len)
{
    json_error_t err;
    json_t *msg;

    for (;;) {
        switch (cli_read_line(c, deadline, line, len)) {
        case CLI_IO_LINE:
            break;
        case CLI_IO_EOF:
            cli_errorf("connection to %s closed before a reply arrived",
                       c->socket_path);
            return NULL;
        case CLI_IO_TIMEOUT:
            cli_errorf("timed out waiting for reply from %s after %gs",
                       c->socket_path, c->timeout);
            return NULL;
        case CLI_IO_SIGNAL:
        case CLI_IO_OUTPUT_GONE:
            cli_errorf("interrupted");
            return NULL;
        case CLI_IO_ERROR:
            cli_errorf("cannot read from %s: %s", c->socket_path,
                       strerror(errno));
            return NULL;
        }
        msg = json_loadb(*line, *len, 0, &err);
        if (cli_is_our_reply(c, msg))
            return msg;
        json_decref(msg);
    }
}

/* Print a reply (@p line is its text) and map it to an exit status. */
static int
cli_handle_reply(struct cli *c, json_t *req, json_t *reply, const char *line,
                 size_t len)
{
    json_t *resp = json_object_get(reply, "response");
    const char *r = json_is_string(resp) ? json_string_value(resp) : "";
    bool raw = c->json || (c->cmd->flags & CLI_CMD_RAW);
    int status;

    if (strcmp(r, "success") == 0 || strcmp(r, "ack") == 0)
        status = CLI_EXIT_OK;
    else if (strcmp(r, "error") == 0)
        status = CLI_EXIT_ERROR;
    else
        status = CLI_EXIT_UNREACHABLE;

    if (raw) {
        cli_emit_line(line, len);
        return status;
    }
    if (status == CLI_EXIT_ERROR) {
        cli_print_error_reply(reply);
    } else if (status == CLI_EXIT_UNREACHABLE) {
        fputs(CLI_PROG ": unexpected reply: ", stderr);
        cli_put_compact(stderr, reply);
        fputc('\n', stderr);
    } else if (strcmp(r, "ack") == 0 && !(c->cmd->flags & CLI_CMD_STREAM)) {
        puts("accepted");
    } else if (strcmp(r, "success") == 0) {
        c->cmd->print(c, req, json_object_get(reply, "data"));
    }
    fflush(stdout);
    return status;
}

/* Route SIGINT/SIGTERM to a descriptor so that the stream loop ends
 * cleanly (exit 0, output flushed) without a global flag. */
static void
cli_catch_signals(struct cli *c)
{
    sigset_t set;

    if (c->sigfd >= 0)
        return;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &set, NULL) == 0)
        c->sigfd = signalfd(-1, &set, SFD_CLOEXEC);
}

/* Print what the daemon pushes until EOF or a signal. */
static int
cli_stream(struct cli *c)
{
    json_error_t err;
    json_t *msg;
    char *line;
    size_t len;
    bool raw = c->json || (c->cmd->flags & CLI_CMD_RAW);

    cli_catch_signals(c);
    /* "sipbridgectl events | grep -m1 x" must end when grep does, not at
     * the next event, which may never come. */
    c->outfd = STDOUT_FILENO;
    for (;;) {
        switch (cli_read_line(c, -1, &line, &len)) {
        case CLI_IO_LINE:
            break;
        case CLI_IO_EOF:
            cli_errorf("connection closed by daemon");
            return CLI_EXIT_OK;
        case CLI_IO_SIGNAL:
        case CLI_IO_OUTPUT_GONE:
            return CLI_EXIT_OK;
        case CLI_IO_TIMEOUT:
        case CLI_IO_ERROR:
            cli_errorf("cannot read from %s: %s", c->socket_path,
                       strerror(errno));
            return CLI_EXIT_UNREACHABLE;
        }
        msg = json_loadb(line, len, 0, &err);
        if (msg == NULL) {
            cli_errorf("ignoring malformed line from daemon: %s", err.text);
        } else if (raw && (c->cmd->flags & CLI_CMD_RAW)) {
            cli_emit_line(line, len);   /* raw --follow shows every line */
        } else if (cli_is_event(msg)) {
            if (raw)
                cli_emit_line(line, len);
            else
                cli_print_event_human(stdout, msg);
            fflush(stdout);
        }
        json_decref(msg);
    }
}

static int
cli_run(struct cli *c)
{
    json_t *req, *reply;
    int64_t deadline;
    char *line;
    size_t len;
    int status;
    bool streaming;

    req = c->cmd->build(c, c->argc, c->argv);
    if (req == NULL)
        return CLI_EXIT_USAGE;

    if (cli_connect(c) != 0) {
        cli_errorf("cannot connect to %s: %s", c->socket_path,
                   strerror(errno));
        json_decref(req);
        return CLI_EXIT_UNREACHABLE;
    }

    /* One deadline covers sending and the reply, so skipped events cannot
     * stretch the wait. */
    deadline = cli_deadline(c);
    status = cli_send_request(c, req, deadline);
    if (status != CLI_EXIT_OK) {
        json_decref(req);
        return status;
    }
    reply = cli_wait_reply(c, deadline, &line, &len);
    if (reply == NULL) {
        json_decref(req);
        return CLI_EXIT_UNREACHABLE;
    }
    /* Whoever reads the reply of a stream may stop us as soon as it has
     * seen it: the signals must be ours before it is printed. */
    streaming = (c->cmd->flags & CLI_CMD_STREAM) || c->follow;
    if (streaming)
        cli_catch_signals(c);
    status = cli_handle_reply(c, req, reply, line, len);
    json_decref(reply);
    json_decref(req);

    if (status == CLI_EXIT_OK && streaming)
        status = cli_stream(c);
    return status;
}

static void
cli_cleanup(struct cli *c)
{
    if (c->fd >= 0)
        close(c->fd);
    if (c->sigfd >= 0)
        close(c->sigfd);
    json_decref(c->txn);
    free(c->buf);
}

int
main(int argc, char **argv)
{
    struct cli c = {
        .socket_path = CLI_DEFAULT_SOCKET,
        .timeout = CLI_DEFAULT_TIMEOUT,
        .fd = -1,
        .sigfd = -1,
        .outfd = -1,
    };
    int status;

    status = cli_parse_options(&c, argc, argv);
    if (status < 0)
        status = cli_parse_command(&c, argc, argv);
    if (status < 0)
        status = cli_run(&c);
    cli_cleanup(&c);
    if (fflush(stdout) != 0 && status == CLI_EXIT_OK) {
        cli_errorf("cannot write output: %s", strerror(errno));
        status = CLI_EXIT_ERROR;
    }
    return status;
}
