/*
 * main.c - sipbridged: options, --check-config, and going to background.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "sipbridge/log.h"

struct options {
    const char *config;
    int foreground;
    int check_only;
};

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: sipbridged [-c FILE] [-f] [--check-config] [-V]\n"
            "  -c, --config FILE   configuration file (default %s)\n"
            "  -f, --foreground    stay in the foreground, log to stderr\n"
            "      --check-config  validate the configuration and exit 0/1\n"
            "  -V, --version       print the version and exit\n"
            "  -h, --help          print this help and exit\n",
            CFG_DEFAULT_PATH);
}

/* @return -1 to continue, or an exit code. */
static int
parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        { "config", required_argument, NULL, 'c' },
        { "foreground", no_argument, NULL, 'f' },
        { "check-config", no_argument, NULL, 'k' },
        { "version", no_argument, NULL, 'V' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    int c;

    o->config = CFG_DEFAULT_PATH;
    while ((c = getopt_long(argc, argv, "c:fVh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': o->config = optarg; break;
        case 'f': o->foreground = 1; break;
        case 'k': o->check_only = 1; break;
        case 'V': printf("sipbridged %s\n", SIPBRIDGE_VERSION); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }
    return -1;
}

static int
load_config(const char *path, struct cfg **cfg, int check_only)
{
    struct cfg_errors errs = { 0 };
    int rc = daemon_load_config(path, cfg, &errs);

    for (size_t i = 0; i < errs.n; i++)
        fprintf(stderr, "%s\n", errs.msgs[i]);
    cfg_errors_clear(&errs);
    if (rc != 0) {
        fprintf(stderr, "sipbridged: %s: configuration is invalid\n", path);
        return -1;
    }
    if (check_only)
        printf("%s: configuration OK\n", path);
    return 0;
}

/*
 * Without -f: fork, and let the parent exit only once the child has bound
 * its sockets (0) or failed (1), so that "sipbridged && next-step" works.
 */
static int
daemonize(int *ready_fd)
{
    int fds[2];
    pid_t pid;
    char status = 1;

    if (pipe2(fds, O_CLOEXEC) != 0)
        return -errno;
    pid = fork();
    if (pid < 0)
        return -errno;
    if (pid > 0) {
        close(fds[1]);
        if (read(fds[0], &status, 1) != 1)
            status = 1;
        _exit(status);
    }
    close(fds[0]);
    setsid();
    *ready_fd = fds[1];
    log_use_syslog("sipbridged");
    return 0;
}

static void
detach_stdio(int ready_fd, int ok)
{
    char status = ok ? 0 : 1;
    int null = open("/dev/null", O_RDWR);

    if (write(ready_fd, &status, 1) != 1)
        log_warn("daemon", "cannot tell the parent process we are ready");
    close(ready_fd);
    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
        if (null > STDERR_FILENO)
            close(null);
    }
}

int
main(int argc, char **argv)
{
    struct sipbridge sb = { 0 };
    struct options o = { 0 };
    struct cfg *cfg;
    int rc, ready_fd = -1;

    rc = parse_options(argc, argv, &o);
    if (rc >= 0)
        return rc;
    log_hook_libraries();
    if (load_config(o.config, &cfg, o.check_only) != 0)
        return 1;
    if (o.check_only) {
        cfg_free(cfg);
        return 0;
    }
    if (!o.foreground && daemonize(&ready_fd) != 0) {
        fprintf(stderr, "sipbridged: cannot go to background: %s\n",
                strerror(errno));
        cfg_free(cfg);
        return 1;
    }
    rc = daemon_start(&sb, o.config, cfg);
    if (ready_fd >= 0)
        detach_stdio(ready_fd, rc == 0);
    if (rc == 0)
        rc = daemon_run(&sb);
    else
        log_err("daemon", "start-up failed: %s", strerror(-rc));
    daemon_free(&sb);
    return rc == 0 ? 0 : 1;
}
