/*
 * log.h - the daemon's logger.
 *
 * Owns the process-wide log sink (stderr, which systemd's journal captures)
 * and the current level.  sofia-sip's and libevent's own logs are routed here
 * by log_hook_libraries().  Loop thread only.  The level is the one piece of
 * process-wide mutable state outside the daemon context: stderr is itself
 * process-wide, and every module must be able to log without a context.
 */
#ifndef SIPBRIDGE_LOG_H
#define SIPBRIDGE_LOG_H

#include <stdarg.h>

enum log_level {
    LOG_LVL_ERR = 0,  /* our own failures */
    LOG_LVL_WARN,     /* degraded but serving */
    LOG_LVL_NOTICE,   /* normal but significant: start, stop, reload */
    LOG_LVL_INFO,     /* peer/client faults, rate-limited by callers */
    LOG_LVL_DEBUG     /* everything, including SIP traces when enabled */
};

/** Parse "error|warning|notice|info|debug". @return level or -1. */
int log_level_parse(const char *s);
/** @return the name of @p level ("notice"), never NULL. */
const char *log_level_name(int level);

void log_set_level(int level);
int log_get_level(void);

/** Level at which sofia-sip's own lines are logged (debug unless tracing). */
void log_set_sofia_level(int level);

/** Send records to syslog as @p ident instead of stderr (background mode). */
void log_use_syslog(const char *ident);

/** Route sofia-sip (su_log) and libevent logs into this logger. */
void log_hook_libraries(void);

void log_write(int level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_vwrite(int level, const char *module, const char *fmt, va_list ap);

/* The level is checked before the arguments are evaluated. */
#define sb_log(level, module, ...)                                            \
    do {                                                                      \
        if ((level) <= log_get_level())                                       \
            log_write((level), (module), __VA_ARGS__);                        \
    } while (0)

/*
 * Lines a peer can cause at will (a refused request, a malformed body) go
 * through a limit of their own call site: at most LOG_LIMIT_BURST lines
 * per LOG_LIMIT_WINDOW seconds; the first line after a window that
 * suppressed some says how many.  The per-site counter is static: like the
 * level, process-wide state the logger owns.
 */
#define LOG_LIMIT_BURST  10
#define LOG_LIMIT_WINDOW 10

struct log_limit {
    long long window;           /* start of the current window, s */
    unsigned n;                 /* lines written in it */
    unsigned long suppressed;   /* lines dropped in it */
};

/** @return 1 to write the line (after reporting what was suppressed). */
int log_limit_pass(struct log_limit *l, int level, const char *module);

#define sb_log_limited(level, module, ...)                                    \
    do {                                                                      \
        static struct log_limit sb_rl_;                                       \
        if ((level) <= log_get_level() &&                                     \
            log_limit_pass(&sb_rl_, (level), (module)))                       \
            log_write((level), (module), __VA_ARGS__);                        \
    } while (0)

#define log_notice_limited(mod, ...) sb_log_limited(LOG_LVL_NOTICE, mod, __VA_ARGS__)
#define log_info_limited(mod, ...)   sb_log_limited(LOG_LVL_INFO, mod, __VA_ARGS__)

#define log_err(mod, ...)    sb_log(LOG_LVL_ERR, mod, __VA_ARGS__)
#define log_warn(mod, ...)   sb_log(LOG_LVL_WARN, mod, __VA_ARGS__)
#define log_notice(mod, ...) sb_log(LOG_LVL_NOTICE, mod, __VA_ARGS__)
#define log_info(mod, ...)   sb_log(LOG_LVL_INFO, mod, __VA_ARGS__)
#define log_debug(mod, ...)  sb_log(LOG_LVL_DEBUG, mod, __VA_ARGS__)

#endif
