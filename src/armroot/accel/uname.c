/*
 * armroot's uname for native build drivers: a freestanding x86_64 shared object preloaded
 * (ld.so --preload) into the native cmake that runs inside an ARM root, so that uname(2)
 * answers with the machine the root's own programs see under QEMU (armv7l, aarch64 ...)
 * and CMAKE_HOST_SYSTEM_PROCESSOR is what the emulated cmake would find. The machine name
 * comes from /run/armroot/accel/machine, which armroot writes for each session; every other
 * field is the kernel's, as it is under QEMU.
 */

struct utsname {
    char sysname[65], nodename[65], release[65], version[65], machine[65], domainname[65];
};

static long sys3(long n, long a, long b, long c) {
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return ret;
}

#define SYS_read 0
#define SYS_open 2
#define SYS_close 3
#define SYS_uname 63
#define O_CLOEXEC 02000000

int uname(struct utsname *u) {
    long ret = sys3(SYS_uname, (long)u, 0, 0);
    if (ret < 0) return -1; /* errno is not ours to set; callers check the -1 */
    long fd = sys3(SYS_open, (long)"/run/armroot/accel/machine", O_CLOEXEC, 0);
    if (fd < 0) return 0;
    char buf[64];
    long n = sys3(SYS_read, fd, (long)buf, sizeof buf - 1);
    sys3(SYS_close, fd, 0, 0);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ')) n--;
    if (n <= 0) return 0;
    for (long i = 0; i < n; i++) u->machine[i] = buf[i];
    u->machine[n] = 0;
    return 0;
}
