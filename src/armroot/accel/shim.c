/*
 * armroot's compiler shim: a static x86_64 program that runs natively inside an ARM root
 * (the kernel runs x86_64 binaries directly; only ARM ones go through binfmt and QEMU).
 *
 * Invoked as cc, gcc, c++, g++, <triple>-gcc, ar, ranlib, ld.lld ... (symlinks named after
 * the tool), it reads /run/armroot/accel/config, which armroot writes for each session:
 *
 *   verbose<TAB>0|1
 *   tool<TAB>NAME<TAB>KIND<TAB>FALLBACK      the root's own program, or "-" for none
 *   kind<TAB>KIND<TAB>ARG0<TAB>ARG1...       the native command the tool's arguments follow
 *   gcc-only-exact|gcc-only-prefix|gcc-only-suffix<TAB>TEXT
 *   arch-default<TAB>WORD                    a kind's -march/-mcpu/-mtune default
 *   distribute<TAB>NAME<TAB>PREFIX...        compilers run as PREFIX... NAME ARGS, where
 *                                            NAME stands for the kind's first two words
 *                                            (read from /run/armroot/accel/distribute,
 *                                            which a session has when it distributes)
 *
 * $ARMROOT_SHIM_CONFIG names another configuration file (an `armroot helper`, which runs
 * the same compilers for distcc outside any session).
 *
 * Distributed (armroot.distribute): the native compiler runs through the PREFIX (distcc)
 * as NAME, a tool of this shim whose kind is the bare native compiler, here and on the
 * helpers; -fdebug-compilation-dir= names this directory, which the helper's is not.
 * A tool with a fallback is a compiler driver: an argument only gcc understands sends the
 * invocation straight to the root's gcc; otherwise the native compiler runs with its output
 * held back, and if it fails for any reason the held output is dropped and the root's gcc
 * runs the same invocation instead, so nothing the native compiler cannot do ends a build
 * that gcc would have finished. With verbose set, every fallback says so on stderr.
 *
 * The target defaults are defaults, as gcc's configured ones are: when the caller chooses
 * the architecture or CPU (-march=, -mcpu=), the arch-default words are left out, so the
 * caller's choice decides the instruction set as it would with the root's gcc.
 *
 * Freestanding (no libc): built with `zig cc -target x86_64-linux-none -nostdlib -static`,
 * so making it takes a fraction of a second and it runs in any root.
 */

#include "freestanding.h"

#define SYS_poll 7
#define SYS_dup2 33
#define SYS_pipe2 293
#define SYS_getcwd 79

#define POLLIN 0x001
#define POLLERR 0x008
#define POLLHUP 0x010

#define CONFIG_PATH "/run/armroot/accel/config"
#define DISTRIBUTE_PATH "/run/armroot/accel/distribute"
#define CONFIG_MAX 65536
#define MAX_ARGS 65536
#define MAX_FIELDS 128
#define HOLD_ERR 65536
#define HOLD_OUT 262144

struct pollfd {
    int fd;
    short events;
    short revents;
};

void *memmove(void *dst, const void *src, size_t n) {
    unsigned char *d = dst;
    const unsigned char *s = src;
    if (d < s) {
        while (n--) *d++ = *s++;
    } else {
        while (n--) d[n] = s[n];
    }
    return dst;
}

static int ends(const char *s, const char *suffix) {
    size_t n = slen(s), m = slen(suffix);
    return n >= m && seq(s + n - m, suffix);
}

__attribute__((noreturn)) static void die(const char *what, const char *detail) {
    const char *parts[] = {"armroot accel: ", what, detail ? ": " : "", detail ? detail : "", 0};
    say_line(parts);
    leave(127);
}

static char config[CONFIG_MAX + 1];
static char *new_argv[MAX_ARGS + 1];

static const char *config_path = CONFIG_PATH;
static int config_is_sessions = 1; /* not $ARMROOT_SHIM_CONFIG's */
static size_t config_used;

/* Append the file at ``path`` to the configuration; 0 if it cannot be opened. */
static int read_file(const char *path) {
    long fd = sys3(SYS_open, (long)path, O_CLOEXEC, 0);
    if (fd < 0) return 0;
    for (;;) {
        long r = sys3(SYS_read, fd, (long)(config + config_used),
                      (long)(CONFIG_MAX - config_used));
        if (r == -EINTR) continue;
        if (r < 0) die("cannot read its configuration", path);
        if (r == 0) break;
        config_used += (size_t)r;
        if (config_used == CONFIG_MAX) die("its configuration is too large", path);
    }
    sys3(SYS_close, fd, 0, 0);
    config[config_used] = 0;
    return 1;
}

static void read_config(char **envp) {
    for (char **e = envp; *e; e++)
        if (starts(*e, "ARMROOT_SHIM_CONFIG=")) {
            config_path = *e + 20;
            config_is_sessions = 0;
        }
    if (!read_file(config_path)) die("cannot read its configuration", config_path);
    /* A session's request to distribute its compiles (the session's part is cached). */
    if (config_is_sessions && config_used && config[config_used - 1] == '\n')
        read_file(DISTRIBUTE_PATH);
}

static const char *basename_of(const char *path) {
    const char *base = path;
    for (const char *p = path; *p; p++)
        if (*p == '/') base = p + 1;
    return base;
}

struct held {
    int fd;      /* where the output finally goes */
    int pipe;    /* read end, -1 once closed */
    char *buf;
    size_t used, cap;
};

static char err_buf[HOLD_ERR];
static char out_buf[HOLD_OUT];
static int streaming; /* output grew past what is held: passed through, no fallback */

static void release(struct held *h) {
    write_all(h->fd, h->buf, h->used);
    h->used = 0;
}

static void drain(struct held *hs, int count) {
    struct pollfd pfd[2];
    for (;;) {
        int n = 0;
        struct held *which[2];
        for (int i = 0; i < count; i++) {
            if (hs[i].pipe < 0) continue;
            pfd[n].fd = hs[i].pipe;
            pfd[n].events = POLLIN;
            pfd[n].revents = 0;
            which[n++] = &hs[i];
        }
        if (n == 0) return;
        long r = sys3(SYS_poll, (long)pfd, n, -1);
        if (r == -EINTR) continue;
        if (r < 0) return;
        for (int i = 0; i < n; i++) {
            if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            struct held *h = which[i];
            char chunk[8192];
            long got = sys3(SYS_read, h->pipe, (long)chunk, sizeof chunk);
            if (got == -EINTR) continue;
            if (got <= 0) {
                sys3(SYS_close, h->pipe, 0, 0);
                h->pipe = -1;
                continue;
            }
            if (!streaming && h->used + (size_t)got > h->cap) {
                streaming = 1;
                for (int j = 0; j < count; j++) release(&hs[j]);
            }
            if (streaming) {
                write_all(h->fd, chunk, (size_t)got);
            } else {
                memcpy(h->buf + h->used, chunk, (size_t)got);
                h->used += (size_t)got;
            }
        }
    }
}

/* The first line of the native compiler's stderr, for the verbose fallback message. */
static char reason[301];

static const char *first_line(const struct held *h) {
    size_t n = 0;
    while (n < h->used && n < sizeof reason - 1 && h->buf[n] != '\n') {
        reason[n] = h->buf[n];
        n++;
    }
    reason[n] = 0;
    return n ? reason : "(no message)";
}

__attribute__((noreturn)) static void fall_back(const char *tool, const char *fallback,
                                                char **argv, char **envp, const char *why,
                                                const char *detail, int verbose) {
    if (verbose) {
        const char *parts[] = {"armroot accel: ", tool, " -> the root's ", fallback,
                               " (", why, detail, ")", 0};
        say_line(parts);
    }
    argv[0] = (char *)fallback; /* gcc finds its own parts from argv[0] */
    sys3(SYS_execve, (long)fallback, (long)argv, (long)envp);
    die("cannot run the root's compiler", fallback);
}

static int run(char *argv[], char **envp, int hold_stdout, struct held *err, struct held *out) {
    int errp[2], outp[2];
    if (sys3(SYS_pipe2, (long)errp, O_CLOEXEC, 0) < 0) die("pipe failed", 0);
    if (hold_stdout && sys3(SYS_pipe2, (long)outp, O_CLOEXEC, 0) < 0) die("pipe failed", 0);
    long pid = sys3(SYS_fork, 0, 0, 0);
    if (pid < 0) die("fork failed", 0);
    if (pid == 0) {
        sys3(SYS_dup2, errp[1], 2, 0);
        if (hold_stdout) sys3(SYS_dup2, outp[1], 1, 0);
        sys3(SYS_execve, (long)argv[0], (long)argv, (long)envp);
        die("cannot run the native compiler", argv[0]);
    }
    sys3(SYS_close, errp[1], 0, 0);
    *err = (struct held){2, errp[0], err_buf, 0, sizeof err_buf};
    struct held pair[2];
    pair[0] = *err;
    int count = 1;
    if (hold_stdout) {
        sys3(SYS_close, outp[1], 0, 0);
        *out = (struct held){1, outp[0], out_buf, 0, sizeof out_buf};
        pair[1] = *out;
        count = 2;
    }
    drain(pair, count);
    *err = pair[0];
    if (hold_stdout) *out = pair[1];
    int code = exit_status(pid);
    if (code < 0) die("wait failed", 0);
    return code;
}

#define MAX_KINDS 64
#define MAX_PATTERNS 512

struct line {
    char *first; /* the line's fields, each NUL-terminated, one after another */
    int count;
};

static struct line kinds[MAX_KINDS];
static struct line patterns[MAX_PATTERNS];
static struct line arch_defaults[MAX_PATTERNS];

static char *field(struct line l, int i) {
    char *p = l.first;
    while (i-- > 0) p += slen(p) + 1;
    return p;
}

/* The reason an argument needs gcc, or 0. */
static const char *gcc_only(const char *arg, int npatterns) {
    for (int i = 0; i < npatterns; i++) {
        const char *how = field(patterns[i], 0), *text = field(patterns[i], 1);
        if ((seq(how, "gcc-only-exact") && seq(arg, text)) ||
            (seq(how, "gcc-only-prefix") && starts(arg, text)) ||
            (seq(how, "gcc-only-suffix") && ends(arg, text)))
            return arg;
    }
    return 0;
}

__attribute__((noreturn, used)) void shim_main(long *sp) {
    int argc = (int)sp[0];
    char **argv = (char **)(sp + 1);
    char **envp = argv + argc + 1;
    if (argc < 1) die("no program name", 0);
    const char *tool = basename_of(argv[0]);
    read_config(envp);

    char *fields[MAX_FIELDS];
    const char *kind = 0, *fallback = 0;
    int verbose = 0, nkinds = 0, npatterns = 0, ndefaults = 0, n;
    struct line distribute = {0, 0};
    char *cursor = config;
    while ((n = next_line(&cursor, fields, MAX_FIELDS)) >= 0) {
        struct line l = {fields[0], n};
        if (n >= 2 && seq(fields[0], "verbose")) {
            verbose = seq(fields[1], "1");
        } else if (n >= 4 && seq(fields[0], "tool") && seq(fields[1], tool)) {
            kind = fields[2];
            fallback = seq(fields[3], "-") ? 0 : fields[3];
        } else if (n >= 3 && seq(fields[0], "kind") && nkinds < MAX_KINDS) {
            kinds[nkinds++] = l;
        } else if (n == 2 && starts(fields[0], "gcc-only-") && npatterns < MAX_PATTERNS) {
            patterns[npatterns++] = l;
        } else if (n == 2 && seq(fields[0], "arch-default") && ndefaults < MAX_PATTERNS) {
            arch_defaults[ndefaults++] = l;
        } else if (n >= 3 && seq(fields[0], "distribute")) {
            distribute = l;
        }
    }
    if (!kind) die(tool, "not a tool armroot provides in this session");
    struct line command = {0, 0};
    for (int i = 0; i < nkinds; i++)
        if (seq(field(kinds[i], 1), kind)) command = kinds[i];
    if (!command.first) die(kind, "no command for this kind of tool in its configuration");

    int words = command.count - 2;
    /* Distributed: PREFIX... NAME in place of the command's first two words (zig clang). */
    int distributed = fallback && distribute.first && words >= 2;
    int prefix = distributed ? distribute.count - 1 : 0;
    if (words + prefix + argc + 1 > MAX_ARGS) {
        if (fallback) fall_back(tool, fallback, argv, envp, "too many arguments", "", verbose);
        die(tool, "too many arguments");
    }
    int has_output = 0, chooses_arch = 0;
    for (int i = 1; i < argc; i++) {
        if (starts(argv[i], "-march=") || starts(argv[i], "-mcpu=")) chooses_arch = 1;
        if (starts(argv[i], "-o")) has_output = 1;
    }
    static char cwd_arg[4096 + 32] = "-fdebug-compilation-dir=";
    if (distributed && sys3(SYS_getcwd, (long)(cwd_arg + 24), 4096, 0) < 0) distributed = 0;
    /* The native command line, through distcc (distributed) or not. */
    int k = 0;
    if (distributed) {
        for (int i = 2; i < distribute.count; i++) new_argv[k++] = field(distribute, i);
        new_argv[k++] = field(distribute, 1);
    }
    for (int i = distributed ? 2 : 0; i < words; i++) {
        char *word = field(command, i + 2);
        int skip = 0;
        for (int j = 0; chooses_arch && j < ndefaults; j++)
            if (seq(word, field(arch_defaults[j], 1))) skip = 1;
        if (!skip) new_argv[k++] = word;
    }
    if (distributed) new_argv[k++] = cwd_arg;
    for (int i = 1; i < argc; i++) new_argv[k++] = argv[i];
    new_argv[k] = 0;
    if (!fallback) {
        sys3(SYS_execve, (long)new_argv[0], (long)new_argv, (long)envp);
        die("cannot run", new_argv[0]);
    }
    for (int i = 1; i < argc; i++) {
        const char *why = gcc_only(argv[i], npatterns);
        if (why) fall_back(tool, fallback, argv, envp, "gcc-only argument ", why, verbose);
    }
    /* Output goes to stdout when no -o names a file (-E, -M, --version ...): held too. */
    struct held err, out;
    int code = run(new_argv, envp, !has_output, &err, &out);
    /* distcc's own failure (its exit statuses are 100-127; a compile that fails returns the
       compiler's): the same native compile here, before gcc is asked. */
    if (distributed && code >= 100 && code < 128 && !streaming) {
        if (verbose) {
            const char *parts[] = {"armroot accel: ", tool, ": distcc failed, compiling here: ",
                                   first_line(&err), 0};
            say_line(parts);
        }
        int n = 0;
        for (int i = 0; i < words; i++) {
            char *word = field(command, i + 2);
            int skip = 0;
            for (int j = 0; chooses_arch && j < ndefaults; j++)
                if (seq(word, field(arch_defaults[j], 1))) skip = 1;
            if (!skip) new_argv[n++] = word;
        }
        for (int i = 1; i < argc; i++) new_argv[n++] = argv[i];
        new_argv[n] = 0;
        code = run(new_argv, envp, !has_output, &err, &out);
    }
    if (code != 0 && !streaming)
        fall_back(tool, fallback, argv, envp, "native compiler failed: ", first_line(&err),
                  verbose);
    if (!has_output) release(&out);
    release(&err);
    leave(code);
}

ENTRY(shim_main)
