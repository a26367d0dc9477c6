/*
 * log.c - one line per record on stderr.
 *
 * Under systemd (JOURNAL_STREAM set) each line starts with a syslog priority
 * prefix "<N>" and carries no timestamp: the journal adds its own and files
 * the priority.  In a terminal we print an ISO timestamp instead.
 */
#include "sipbridge/log.h"

#include <event2/event.h>
#include <sofia-sip/su_log.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>

static struct {
    int level;
    int journal;        /* stderr goes to the journal */
    int syslog;         /* background mode: syslog instead of stderr */
    int sofia_level;    /* level of sofia's lines: notice while tracing */
    char sofia_buf[1024]; /* sofia logs a line in several calls */
    size_t sofia_len;
} logger = { LOG_LVL_NOTICE, -1, 0, LOG_LVL_DEBUG, "", 0 };

static const char *const level_names[] = {
    "error", "warning", "notice", "info", "debug"
};
static const int level_syslog[] = { 3, 4, 5, 6, 7 };

int
log_level_parse(const char *s)
{
    for (int i = 0; i <= LOG_LVL_DEBUG; i++)
        if (strcasecmp(s, level_names[i]) == 0)
            return i;
    if (strcasecmp(s, "err") == 0)
        return LOG_LVL_ERR;
    if (strcasecmp(s, "warn") == 0)
        return LOG_LVL_WARN;
    return -1;
}

const char *
log_level_name(int level)
{
    if (level < 0 || level > LOG_LVL_DEBUG)
        return "unknown";
    return level_names[level];
}

void
log_set_level(int level)
{
    if (level >= LOG_LVL_ERR && level <= LOG_LVL_DEBUG)
        logger.level = level;
}

int
log_get_level(void)
{
    return logger.level;
}

void
log_use_syslog(const char *ident)
{
    openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
    logger.syslog = 1;
}

void
log_set_sofia_level(int level)
{
    logger.sofia_level = level;
}

void
log_vwrite(int level, const char *module, const char *fmt, va_list ap)
{
    char msg[2048];
    int n;

    if (level < 0)
        level = 0;
    if (level > LOG_LVL_DEBUG)
        level = LOG_LVL_DEBUG;
    if (logger.journal < 0)
        logger.journal = getenv("JOURNAL_STREAM") != NULL;

    n = vsnprintf(msg, sizeof(msg), fmt, ap);
    if (n < 0)
        return;
    /* One record is one line: a trailing newline from a caller is dropped. */
    while (n > 0 && (size_t)n < sizeof(msg) && msg[n - 1] == '\n')
        msg[--n] = '\0';

    if (logger.syslog) {
        syslog(level_syslog[level], "%s: %s", module, msg);
    } else if (logger.journal) {
        fprintf(stderr, "<%d>%s: %s\n", level_syslog[level], module, msg);
    } else {
        struct timeval tv;
        struct tm tm;
        char ts[32];

        gettimeofday(&tv, NULL);
        localtime_r(&tv.tv_sec, &tm);
        strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
        fprintf(stderr, "%s.%03ld %s %s: %s\n", ts, (long)tv.tv_usec / 1000,
                level_names[level], module, msg);
    }
}

int
log_limit_pass(struct log_limit *l, int level, const char *module)
{
    struct timespec ts;
    long long now;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    now = (long long)ts.tv_sec;
    if (now - l->window >= LOG_LIMIT_WINDOW || l->window == 0) {
        if (l->suppressed)
            log_write(level, module, "(%lu more lines like the next one "
                      "were not logged in %d s)", l->suppressed,
                      LOG_LIMIT_WINDOW);
        l->window = now ? now : 1;
        l->n = 0;
        l->suppressed = 0;
    }
    if (l->n < LOG_LIMIT_BURST) {
        l->n++;
        return 1;
    }
    l->suppressed++;
    return 0;
}

void
log_write(int level, const char *module, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vwrite(level, module, fmt, ap);
    va_end(ap);
}

/*
 * sofia-sip writes a record in fragments, and a trace dump as one fragment
 * of many lines: emit every complete line, keep the rest for later.
 */
static void
log_sofia(void *stream, char const *fmt, va_list ap)
{
    char *buf = logger.sofia_buf, *line, *nl;
    size_t room = sizeof(logger.sofia_buf) - logger.sofia_len;
    int n;

    (void)stream;
    n = vsnprintf(buf + logger.sofia_len, room, fmt, ap);
    if (n < 0)
        return;
    logger.sofia_len += (size_t)n < room ? (size_t)n : room - 1;
    line = buf;
    while ((nl = memchr(line, '\n', logger.sofia_len - (line - buf)))) {
        *nl = '\0';
        if (nl > line)
            sb_log(logger.sofia_level, "sofia", "%s", line);
        line = nl + 1;
    }
    logger.sofia_len -= line - buf;
    memmove(buf, line, logger.sofia_len);
    if (logger.sofia_len == sizeof(logger.sofia_buf) - 1) {
        buf[logger.sofia_len] = '\0';
        sb_log(logger.sofia_level, "sofia", "%s", buf);
        logger.sofia_len = 0;
    }
    buf[logger.sofia_len] = '\0';
}

static void
log_libevent(int severity, const char *msg)
{
    int level = LOG_LVL_DEBUG;

    if (severity == EVENT_LOG_ERR)
        level = LOG_LVL_ERR;
    else if (severity == EVENT_LOG_WARN)
        level = LOG_LVL_WARN;
    sb_log(level, "libevent", "%s", msg);
}

void
log_hook_libraries(void)
{
    su_log_redirect(NULL, log_sofia, NULL);
    event_set_log_callback(log_libevent);
}
