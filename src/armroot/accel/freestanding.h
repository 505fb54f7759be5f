/*
 * What armroot's freestanding x86_64 programs (shim.c, twin.c) share: raw system calls, the
 * few libc functions the compiler may call, string helpers, and the tab-separated config
 * format both read. No libc: built with `zig cc -target x86_64-linux-none -nostdlib`.
 */

typedef unsigned long size_t;

#define SYS_read 0
#define SYS_write 1
#define SYS_open 2
#define SYS_close 3
#define SYS_fork 57
#define SYS_execve 59
#define SYS_wait4 61
#define SYS_exit_group 231

#define EINTR 4
#define O_CLOEXEC 02000000

static long sys6(long n, long a, long b, long c, long d, long e, long f) {
    long ret;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}

static long sys3(long n, long a, long b, long c) { return sys6(n, a, b, c, 0, 0, 0); }

void *memset(void *dst, int c, size_t n) {
    unsigned char *d = dst;
    while (n--) *d++ = (unsigned char)c;
    return dst;
}

void *memcpy(void *dst, const void *src, size_t n) {
    unsigned char *d = dst;
    const unsigned char *s = src;
    while (n--) *d++ = *s++;
    return dst;
}

static size_t slen(const char *s) {
    size_t n = 0;
    while (s[n]) n++;
    return n;
}

static int seq(const char *a, const char *b) {
    while (*a && *a == *b) a++, b++;
    return *a == *b;
}

static int starts(const char *s, const char *prefix) {
    while (*prefix)
        if (*s++ != *prefix++) return 0;
    return 1;
}

static void write_all(int fd, const char *buf, size_t n) {
    while (n > 0) {
        long w = sys3(SYS_write, fd, (long)buf, (long)n);
        if (w == -EINTR) continue;
        if (w <= 0) return;
        buf += w;
        n -= (size_t)w;
    }
}

/* One line to stderr, the NULL-ended parts joined, in one write (up to PIPE_BUF bytes, so
 * that the lines of programs sharing a pipe do not interleave); a longer line is cut. */
#define LINE_MAX_BYTES 4096
static void say_line(const char *const *parts) {
    static char line[LINE_MAX_BYTES];
    size_t n = 0;
    for (; *parts; parts++)
        for (const char *c = *parts; *c && n < LINE_MAX_BYTES - 1; c++) line[n++] = *c;
    line[n++] = '\n';
    write_all(2, line, n);
}

__attribute__((noreturn)) static void leave(int code) {
    for (;;) sys3(SYS_exit_group, code, 0, 0);
}

/* How child `pid` ended, as a shell says it: its exit status, or 128 + the signal that
 * killed it; -1 if it cannot be waited for. */
static int exit_status(long pid) {
    int status = 0;
    for (;;) {
        long r = sys6(SYS_wait4, pid, (long)&status, 0, 0, 0, 0);
        if (r == -EINTR) continue;
        if (r < 0) return -1;
        break;
    }
    if ((status & 0x7f) == 0) return (status >> 8) & 0xff; /* exited */
    return 128 + (status & 0x7f);                          /* killed by a signal */
}

/* Split the line at *cursor into at most `max` tab-separated fields (in place, the list
 * ended by a null pointer); -1 at the end of the text. */
static int next_line(char **cursor, char **fields, int max) {
    char *p = *cursor;
    if (!*p) return -1;
    int n = 0;
    fields[n++] = p;
    for (; *p && *p != '\n'; p++) {
        if (*p == '\t') {
            *p = 0;
            if (n < max - 1) fields[n++] = p + 1;
        }
    }
    if (*p == '\n') *p++ = 0;
    fields[n] = 0;
    *cursor = p;
    return n;
}

/* The program's entry point: FN(long *sp) gets the initial stack (argc, argv, envp, auxv). */
#define ENTRY(FN)                      \
    __asm__(".text\n"                  \
            ".global _start\n"         \
            "_start:\n"                \
            "  xor %rbp, %rbp\n"       \
            "  mov %rsp, %rdi\n"       \
            "  and $-16, %rsp\n"       \
            "  call " #FN "\n");
