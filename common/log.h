/*
 * Logging: one line per event in logfmt (key=value) on stderr, where
 * journald picks it up. The level is checked before formatting; errno is kept.
 */
#ifndef HO_LOG_H
#define HO_LOG_H

enum log_level { LOG_LEVEL_ERROR = 0, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/* Sets the program name written as prog=... on every line. */
void log_init(const char *ident, enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "error|warn|info|debug"; returns 0 on success, -1 on an unknown name. */
int log_level_parse(const char *s, enum log_level *out);
const char *log_level_str(enum log_level level);

/* msg is a printf format; the text becomes msg="..." (quoted, escaped). */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));  /* adds strerror */
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Log at error level and exit(1); only at startup or for impossible states. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn)); /* strerror */
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/*
 * Copies untrusted text into dst (size n) for a log line: at most n-1 bytes,
 * non-printable bytes as \xNN, and "..." when truncated. Returns dst.
 */
char *log_safe(char *dst, unsigned long n, const char *src);

#endif
