#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
/* Crashes the kernel in about one run of three, as the guest's random
   bytes decide. */
int main(void) {
	unsigned char b = 0;
	int r = open("/dev/urandom", O_RDONLY);
	if (r < 0 || read(r, &b, 1) != 1) { perror("urandom"); return 2; }
	if (b % 3 == 0) {
		int fd = open("/proc/sysrq-trigger", O_WRONLY);
		write(fd, "c", 1);
	}
	printf("survived: %u\n", b);
	return 0;
}
