/*
 * The floor of bench/init.sh: the least an init can do for the boot that
 * the initkit init and the shell init are measured on, as a static C
 * program with no logging, no rescue and no checks. It mounts /dev, /proc,
 * /sys and /run; loads the modules of the image's initkit.load in order
 * with finit_module; finds root=UUID= among /sys/class/block by the ext4
 * superblock's UUID (polling every millisecond); mounts it with
 * rootfstype=; deletes the initramfs without leaving it (as switch_root
 * does); moves the four mounts; and execs /sbin/init in the new root.
 * Whatever the initkit init spends above this floor is its own overhead;
 * the floor itself is the kernel's work (module loading and the devices'
 * probes, the mount) plus what any program costs under TCG.
 * initkit.load is the load list of Go package guest (LoadList), written
 * by initkit build beside modules.dep.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

static char cmdline[4096];

/* arg returns the value of KEY= on the kernel command line, or "". */
static const char *arg(const char *key)
{
	static char val[256];
	size_t n = strlen(key);
	for (char *p = cmdline; (p = strstr(p, key)) != NULL; p += n) {
		if ((p == cmdline || p[-1] == ' ') && p[n] == '=') {
			size_t l = strcspn(p + n + 1, " \n");
			snprintf(val, sizeof val, "%.*s", (int)l, p + n + 1);
			return val;
		}
	}
	return "";
}

static void load_modules(void)
{
	struct utsname u;
	char dir[300], list[400], path[700], line[300];
	uname(&u);
	snprintf(dir, sizeof dir, "/lib/modules/%s", u.release);
	snprintf(list, sizeof list, "%s/initkit.load", dir);
	FILE *f = fopen(list, "r");
	if (!f)
		return;
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = 0;
		snprintf(path, sizeof path, "%s/%s", dir, line);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			syscall(SYS_finit_module, fd, "", 0);
			close(fd);
		}
	}
	fclose(f);
}

/* find_root returns the /dev path of the block device whose ext4 UUID is
 * uuid (as printed: 8-4-4-4-12 hex digits), or NULL. */
static const char *find_root(const char *uuid)
{
	static char dev[300];
	DIR *d = opendir("/sys/class/block");
	struct dirent *e;
	const char *found = NULL;
	while (d && !found && (e = readdir(d)) != NULL) {
		unsigned char b[16];
		char s[37], *q = s;
		if (e->d_name[0] == '.')
			continue;
		snprintf(dev, sizeof dev, "/dev/%s", e->d_name);
		int fd = open(dev, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (pread(fd, b, 16, 1024 + 0x68) == 16) {
			for (int i = 0; i < 16; i++) {
				if (i == 4 || i == 6 || i == 8 || i == 10)
					*q++ = '-';
				q += sprintf(q, "%02x", b[i]);
			}
			if (strcmp(s, uuid) == 0)
				found = dev;
		}
		close(fd);
	}
	if (d)
		closedir(d);
	return found;
}

static dev_t rootdev;

static int unlink_one(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	(void)type;
	if (ftw->level == 0 || st->st_dev != rootdev)
		return 0;
	if (S_ISDIR(st->st_mode))
		rmdir(p); /* mount points stay: EBUSY */
	else
		unlink(p);
	return 0;
}

int main(void)
{
	const char *mounts[][2] = {{"devtmpfs", "/dev"}, {"proc", "/proc"}, {"sysfs", "/sys"}, {"tmpfs", "/run"}};
	for (int i = 0; i < 4; i++) {
		mkdir(mounts[i][1], 0755);
		mount(mounts[i][0], mounts[i][1], mounts[i][0], MS_NOSUID, NULL);
	}
	int fd = open("/proc/cmdline", O_RDONLY);
	read(fd, cmdline, sizeof cmdline - 1);
	close(fd);
	load_modules();

	char uuid[64];
	snprintf(uuid, sizeof uuid, "%s", arg("root") + strlen("UUID="));
	const char *dev = NULL;
	for (int i = 0; i < 10000 && !(dev = find_root(uuid)); i++)
		usleep(1000);
	mkdir("/newroot", 0755);
	if (!dev || mount(dev, "/newroot", arg("rootfstype"), MS_RDONLY, NULL) != 0) {
		fprintf(stderr, "floor-init: no root %s\n", uuid);
		for (;;)
			pause();
	}

	struct stat st;
	stat("/", &st);
	rootdev = st.st_dev;
	nftw("/", unlink_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	for (int i = 0; i < 4; i++) {
		char to[64];
		snprintf(to, sizeof to, "/newroot%s", mounts[i][1]);
		mount(mounts[i][1], to, NULL, MS_MOVE, NULL);
	}
	chdir("/newroot");
	mount(".", "/", NULL, MS_MOVE, NULL);
	chroot(".");
	chdir("/");
	execl("/sbin/init", "/sbin/init", (char *)NULL);
	for (;;)
		pause();
}
