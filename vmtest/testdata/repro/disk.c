// A reproducer that crashes the kernel only in the root of the test's
// disk image, where it finds the image's marker; it writes a file there
// first, which the image must not keep (each run's disk is a snapshot).
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(void)
{
	int fd;

	if (access("/initkit-disk-marker", F_OK) != 0) {
		printf("no marker: not in the disk's root\n");
		return 0;
	}
	close(open("/written-by-repro", O_WRONLY | O_CREAT, 0644));
	sync();
	fd = open("/proc/sysrq-trigger", O_WRONLY);
	write(fd, "c", 1);
	return 1;
}
