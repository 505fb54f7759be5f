/*
 * armroot's binfmt_misc handler for twins: a static x86_64 program the kernel runs for every
 * ARM program a session executes (a handler of the session's own user namespace, registered
 * with flags POCF, so no file of the root is covered and the host's handlers are untouched).
 *
 * The kernel starts it as  twin  PATH  ARGV0  ARGS...  with the program open on AT_EXECFD.
 * It reads the program's GNU build-id and looks it up in /run/armroot/twins/table, which
 * armroot writes for each session:
 *
 *   verbose<TAB>0|1
 *   qemu<TAB>E_MACHINE<TAB>PATH               QEMU for ARM programs of that machine
 *   twin<TAB>BUILD-ID<TAB>WORD...             the native command; {argv0} is ARGV0
 *   env<TAB>BUILD-ID<TAB>NAME=VALUE           set for that twin only
 *   offload-m<TAB>BUILD-ID<TAB>args|link|link-fortran      see below
 *   emulate-exact|emulate-prefix|emulate-alone<TAB>BUILD-ID<TAB>ARG
 *
 * emulate-*: an invocation with such an argument runs the root's own program under QEMU,
 * not its twin: for a gcc driver the questions about itself (-print-search-dirs, -v,
 * -dumpspecs ...), whose answers name a cross compiler's paths, configuration and order
 * where the root's gcc names its own, and which configure scripts record (libtool's
 * sys_lib_search_path_spec). emulate-alone: only when ARG is the one argument (`gcc -v`
 * asks; `gcc -v -c x.c` compiles, and the root's driver cannot drive the twin's cc1).
 *
 * offload-m is for a gcc driver twinning a root gcc configured with offloading (Debian's
 * native gcc is; its cross compilers are not): that gcc records -foffload-options=-l_GCC_m
 * (-l_GCC_gfortran) among the options of a compile wherever -lm (-lgfortran) is given, and
 * when they link the C++ driver gives -lm itself and the Fortran driver -lgfortran -lm. The
 * twin is given the same options at the same places, so the options a compile records
 * (DW_AT_producer) are the root gcc's.
 *
 * A distributing session (armroot.distribute) also has /run/armroot/twins/distribute:
 *
 *   distribute<TAB>BUILD-ID<TAB>NAME<TAB>SHOWN<TAB>PREFIX...
 *   local-exact|local-prefix|local-suffix<TAB>ARG
 *
 * A compile (-c) by that driver, with no argument that keeps it here, runs as
 * PREFIX... NAME ARGS (the host's distcc) in the caller's environment. distcc preprocesses
 * by running NAME here: a link to the root's driver, so that comes back to this handler,
 * which then runs the twin itself, as SHOWN; the helpers run their NAME on the .i. If
 * distcc itself fails (exit status 100-127: it could not run, recursed, ...), the handler
 * says so and the twin compiles the same command here.
 *
 * A program in the table is the root's own file (armroot checked it against dpkg's md5sums),
 * and its twin is the amd64 build of the same source version; the word list runs it with the
 * twin's own loader and libraries given as loader options, so nothing of them reaches the
 * programs the twin starts. Every other ARM program runs under QEMU as it would without
 * twins: QEMU  -0 ARGV0  PATH  ARGS...  (QEMU_CPU comes from the session's environment).
 *
 * Freestanding (no libc), built like the compiler shim.
 */

#include "freestanding.h"

#define SYS_pread64 17

#define O_RDONLY 0
#define AT_NULL 0
#define AT_EXECFD 2

#define TABLE_PATH "/run/armroot/twins/table"
#define DISTRIBUTE_PATH "/run/armroot/twins/distribute"
#define TABLE_MAX (4 << 20)
#define DISTRIBUTE_MAX 65536
#define MAX_ARGS 65536
#define MAX_ENV 8192
#define MAX_FIELDS 64
#define NOTE_MAX 4096

static void say(const char *a, const char *b, const char *c) {
    const char *parts[] = {"armroot twins: ", a, b, c, 0};
    say_line(parts);
}

__attribute__((noreturn)) static void die(const char *what, const char *detail) {
    say(what, ": ", detail);
    leave(127);
}

static char table[TABLE_MAX + 1];
static char *new_argv[2 * MAX_ARGS + MAX_FIELDS + 8]; /* room for an option per -lm */
static char *new_envp[MAX_ENV + MAX_FIELDS + 1];

static char distribute[DISTRIBUTE_MAX + 1];

/* path into buf (max bytes); 0 if it does not exist, and `required` files must. */
static int read_file(const char *path, char *buf, size_t max, int required) {
    long fd = sys3(SYS_open, (long)path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) {
        if (required) die("cannot open", path);
        buf[0] = 0;
        return 0;
    }
    size_t used = 0;
    for (;;) {
        long n = sys3(SYS_read, fd, (long)(buf + used), (long)(max - used));
        if (n == -EINTR) continue;
        if (n < 0) die("cannot read", path);
        if (n == 0) break;
        used += (size_t)n;
        if (used == max) die(path, "too large");
    }
    sys3(SYS_close, fd, 0, 0);
    buf[used] = 0;
    return 1;
}

static void read_table(void) { read_file(TABLE_PATH, table, TABLE_MAX, 1); }

static const char *basename_of(const char *path) {
    const char *base = path;
    for (const char *p = path; *p; p++)
        if (*p == '/') base = p + 1;
    return base;
}

static int ends(const char *s, const char *suffix) {
    size_t a = slen(s), b = slen(suffix);
    return a >= b && seq(s + a - b, suffix);
}

static long pread_all(long fd, void *buf, size_t n, unsigned long offset) {
    size_t got = 0;
    while (got < n) {
        long r = sys6(SYS_pread64, fd, (long)((char *)buf + got), (long)(n - got),
                      (long)(offset + got), 0, 0);
        if (r == -EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    return (long)got;
}

static unsigned long get(const unsigned char *p, int size) {
    unsigned long v = 0;
    for (int i = size - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v; /* little-endian: every ARM root armroot runs */
}

/* The ELF machine and the GNU build-id (hex, into id) of the program open on fd. */
static int identify(long fd, char *id, size_t id_max, int *machine) {
    unsigned char eh[64];
    id[0] = 0;
    *machine = 0;
    if (pread_all(fd, eh, sizeof eh, 0) < 52) return -1;
    if (eh[0] != 0x7f || eh[1] != 'E' || eh[2] != 'L' || eh[3] != 'F' || eh[5] != 1) return -1;
    int is64 = eh[4] == 2;
    *machine = (int)get(eh + 18, 2);
    unsigned long phoff = is64 ? get(eh + 32, 8) : get(eh + 28, 4);
    int phentsize = (int)get(eh + (is64 ? 54 : 42), 2);
    int phnum = (int)get(eh + (is64 ? 56 : 44), 2);
    if (phnum > 64 || phentsize < (is64 ? 56 : 32) || phentsize > 128) return 0;
    for (int i = 0; i < phnum; i++) {
        unsigned char ph[128];
        if (pread_all(fd, ph, (size_t)phentsize, phoff + (unsigned long)(i * phentsize)) <
            phentsize)
            return 0;
        if (get(ph, 4) != 4) continue; /* PT_NOTE */
        unsigned long off = is64 ? get(ph + 8, 8) : get(ph + 4, 4);
        unsigned long size = is64 ? get(ph + 32, 8) : get(ph + 16, 4);
        unsigned char note[NOTE_MAX];
        if (size > NOTE_MAX) size = NOTE_MAX;
        long got = pread_all(fd, note, size, off);
        for (long at = 0; at + 12 <= got;) {
            unsigned long namesz = get(note + at, 4), descsz = get(note + at + 4, 4);
            unsigned long type = get(note + at + 8, 4);
            long name = at + 12, desc = name + (long)((namesz + 3) & ~3UL);
            long next = desc + (long)((descsz + 3) & ~3UL);
            if (next > got) break;
            if (type == 3 && namesz == 4 && note[name] == 'G' && note[name + 1] == 'N' &&
                note[name + 2] == 'U' && descsz * 2 < id_max) {
                static const char hex[] = "0123456789abcdef";
                for (unsigned long k = 0; k < descsz; k++) {
                    id[2 * k] = hex[note[desc + (long)k] >> 4];
                    id[2 * k + 1] = hex[note[desc + (long)k] & 15];
                }
                id[2 * descsz] = 0;
                return 0;
            }
            at = next;
        }
    }
    return 0;
}

#define OFFLOAD_M "-foffload-options=-l_GCC_m"
#define OFFLOAD_GFORTRAN "-foffload-options=-l_GCC_gfortran"

/* Options whose value is the next argument (not an input file). */
static const char *const takes_value[] = {
    "-o", "-x", "-I", "-L", "-D", "-U", "-include", "-imacros", "-isystem", "-idirafter",
    "-iprefix", "-iwithprefix", "-iwithprefixbefore", "-isysroot", "-iquote", "-imultilib",
    "-MF", "-MT", "-MQ", "-Xlinker", "-Xassembler", "-Xpreprocessor", "-T", "-u", "-e", "-z",
    "--param", "-A", "-aux-info", "-wrapper", "-l", "-dumpdir", "-dumpbase", "-dumpbase-ext",
    0};
/* Options that mean the driver does not link, or links no default libraries. */
static const char *const no_link[] = {
    "-c", "-S", "-E", "-M", "-MM", "-fsyntax-only", "-r", "-nostdlib", "-nodefaultlibs", 0};

static int in_list(const char *arg, const char *const *list) {
    for (; *list; list++)
        if (seq(arg, *list)) return 1;
    return 0;
}

/* Whether a C++ or Fortran driver given these arguments links with its default libraries
 * (g++spec.cc's rule: an input file or a -l, and nothing that stops before linking). */
static int links(int argc, char **argv, int first) {
    int inputs = 0;
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (in_list(a, no_link)) return 0;
        if (a[0] == '-' && a[1] == 'l') inputs = 1;
        if (in_list(a, takes_value)) {
            i++;
            continue;
        }
        if (a[0] != '-' || (a[0] == '-' && a[1] == 0)) inputs = 1;
    }
    return inputs;
}

/* Whether an invocation goes to distcc: a compile (-c), and no argument the distribute
 * file's local-* lines name. */
static int distributable(int argc, char **argv, char *text) {
    int compile = 0;
    for (int i = 3; i < argc; i++)
        if (seq(argv[i], "-c")) compile = 1;
    if (!compile) return 0;
    char *fields[4];
    char *cursor = text;
    int n;
    while ((n = next_line(&cursor, fields, 4)) >= 0) {
        if (n != 2) continue;
        int exact = seq(fields[0], "local-exact"), prefix = seq(fields[0], "local-prefix");
        int suffix = seq(fields[0], "local-suffix");
        if (!exact && !prefix && !suffix) continue;
        for (int i = 3; i < argc; i++)
            if ((exact && seq(argv[i], fields[1])) || (prefix && starts(argv[i], fields[1])) ||
                (suffix && ends(argv[i], fields[1])))
                return 0;
    }
    return 1;
}

static void machine_text(int machine, char *out) {
    char digits[12];
    int n = 0;
    do digits[n++] = (char)('0' + machine % 10), machine /= 10;
    while (machine && n < 11);
    while (n) *out++ = digits[--n];
    *out = 0;
}

/* envp with NAME=VALUE set (replacing NAME's old value). */
static int set_env(int count, char *assignment) {
    size_t name = 0;
    while (assignment[name] && assignment[name] != '=') name++;
    for (int i = 0; i < count; i++) {
        size_t k = 0;
        while (k < name && new_envp[i][k] == assignment[k]) k++;
        if (k == name && new_envp[i][k] == '=') {
            new_envp[i] = assignment;
            return count;
        }
    }
    if (count < MAX_ENV + MAX_FIELDS) new_envp[count++] = assignment;
    return count;
}

__attribute__((noreturn, used)) void twin_main(long *sp) {
    int argc = (int)sp[0];
    char **argv = (char **)(sp + 1);
    char **envp = argv + argc + 1;
    char **p = envp;
    while (*p) p++;
    long execfd = -1;
    for (unsigned long *aux = (unsigned long *)(p + 1); aux[0] != AT_NULL; aux += 2)
        if (aux[0] == AT_EXECFD) execfd = (long)aux[1];
    /* POCF: argv[0] is this handler, argv[1] the program's path, argv[2] its argv[0]. */
    if (argc < 3) die("started without a program", "armroot registers it with flags POCF");
    char *path = argv[1], *argv0 = argv[2];
    long fd = execfd >= 0 ? execfd : sys3(SYS_open, (long)path, O_RDONLY | O_CLOEXEC, 0);
    char id[160];
    int machine = 0;
    if (fd < 0 || identify(fd, id, sizeof id, &machine) < 0) die("not an ELF program", path);
    if (execfd >= 0) sys3(SYS_close, execfd, 0, 0);
    char number[12];
    machine_text(machine, number);
    read_table();

    char *fields[MAX_FIELDS];
    char *cursor = table, **twin = 0, *qemu = 0;
    int n, twin_words = 0, verbose = 0, nenv = 0, offload = 0;
    const char *asked = 0; /* an argument that sends the invocation to QEMU */
    while (*envp && nenv < MAX_ENV) new_envp[nenv++] = *envp++;
    while ((n = next_line(&cursor, fields, MAX_FIELDS)) >= 0) {
        if (n == 2 && seq(fields[0], "verbose")) {
            verbose = seq(fields[1], "1");
        } else if (n == 3 && seq(fields[0], "qemu") && seq(fields[1], number)) {
            qemu = fields[2];
        } else if (id[0] && n >= 3 && seq(fields[0], "twin") && seq(fields[1], id) && !twin) {
            twin = fields + 2;
            twin_words = n - 2;
            static char *kept[MAX_FIELDS];
            for (int i = 0; i < twin_words; i++) kept[i] = twin[i];
            twin = kept;
        } else if (id[0] && n == 3 && seq(fields[0], "env") && seq(fields[1], id)) {
            nenv = set_env(nenv, fields[2]);
        } else if (id[0] && n == 3 && !asked && seq(fields[1], id) &&
                   (seq(fields[0], "emulate-exact") || seq(fields[0], "emulate-prefix") ||
                    seq(fields[0], "emulate-alone"))) {
            int prefix = seq(fields[0], "emulate-prefix");
            if (seq(fields[0], "emulate-alone")) {
                if (argc == 4 && seq(argv[3], fields[2])) asked = argv[3];
            } else {
                for (int i = 3; i < argc && !asked; i++)
                    if (prefix ? starts(argv[i], fields[2]) : seq(argv[i], fields[2]))
                        asked = argv[i];
            }
        } else if (id[0] && n == 3 && seq(fields[0], "offload-m") && seq(fields[1], id)) {
            offload = seq(fields[2], "link-fortran") ? 3 : seq(fields[2], "link") ? 2 : 1;
        }
    }
    int k = 0;
    if (twin && asked && qemu) {
        if (verbose) say(path, ": emulated for ", asked);
        twin = 0;
    }
    if (twin && read_file(DISTRIBUTE_PATH, distribute, DISTRIBUTE_MAX, 0)) {
        /* The lines are read from a copy: next_line cuts the text it reads. */
        static char lines[DISTRIBUTE_MAX + 1];
        for (size_t i = 0; i <= DISTRIBUTE_MAX; i++)
            if (!(lines[i] = distribute[i])) break;
        char *cursor = lines;
        while ((n = next_line(&cursor, fields, MAX_FIELDS)) >= 0) {
            if (n < 5 || !seq(fields[0], "distribute") || !seq(fields[1], id)) continue;
            if (seq(basename_of(argv0), fields[2])) {
                argv0 = fields[3]; /* distcc's own run here: the twin, by the root's name */
                break;
            }
            if (!distributable(argc, argv, distribute)) break;
            if (n - 4 + argc > MAX_ARGS) break;
            for (int i = 4; i < n; i++) new_argv[k++] = fields[i];
            new_argv[k++] = fields[2];
            for (int i = 3; i < argc; i++) new_argv[k++] = argv[i];
            new_argv[k] = 0;
            if (verbose) say(path, ": distributed as ", fields[2]);
            long pid = sys3(SYS_fork, 0, 0, 0);
            if (pid == 0) {
                sys3(SYS_execve, (long)new_argv[0], (long)new_argv, (long)(argv + argc + 1));
                die("cannot run", new_argv[0]);
            }
            int code = pid > 0 ? exit_status(pid) : -1;
            /* distcc's own failure (its exit statuses are 100-127; a compile that fails
               returns the compiler's): the same compile here, by the twin. */
            if (code >= 0 && (code < 100 || code >= 128)) leave(code);
            say(path, ": distcc failed, compiling here", "");
            k = 0;
            break;
        }
    }
    if (twin) {
        if (twin_words + argc > MAX_ARGS) die(path, "too many arguments");
        for (int i = 0; i < twin_words; i++) new_argv[k++] = seq(twin[i], "{argv0}") ? argv0 : twin[i];
        if (verbose) {
            /* The twin's file is the word after {argv0}; options the table gives it follow. */
            const char *shown = twin[twin_words - 1];
            for (int i = 0; i + 1 < twin_words; i++)
                if (seq(twin[i], "{argv0}")) shown = twin[i + 1];
            say(path, ": native twin ", shown);
        }
    } else {
        if (!qemu) die(path, "an ARM program for a machine this session has no QEMU for");
        if (argc > MAX_ARGS) die(path, "too many arguments");
        /* Not a twin: the environment is the caller's, untouched. */
        nenv = 0;
        for (char **e = argv + argc + 1; *e && nenv < MAX_ENV; e++) new_envp[nenv++] = *e;
        new_argv[k++] = qemu;
        new_argv[k++] = "-0";
        new_argv[k++] = argv0;
        new_argv[k++] = path;
        if (verbose) say(path, ": emulated", id[0] ? "" : " (no build-id)");
    }
    for (int i = 3; i < argc; i++) {
        if (twin && offload && seq(argv[i], "-lm")) new_argv[k++] = OFFLOAD_M;
        if (twin && offload && seq(argv[i], "-lgfortran")) new_argv[k++] = OFFLOAD_GFORTRAN;
        new_argv[k++] = argv[i];
    }
    if (twin && offload >= 2 && links(argc, argv, 3)) {
        if (offload == 3) new_argv[k++] = OFFLOAD_GFORTRAN;
        new_argv[k++] = OFFLOAD_M;
    }
    new_argv[k] = 0;
    new_envp[nenv] = 0;
    sys3(SYS_execve, (long)new_argv[0], (long)new_argv, (long)new_envp);
    die("cannot run", new_argv[0]);
}

ENTRY(twin_main)
