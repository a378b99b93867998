// A reproducer that crashes the kernel every time: sysrq's crash.
#include <fcntl.h>
#include <unistd.h>

int main(void)
{
	int fd = open("/proc/sysrq-trigger", O_WRONLY);
	write(fd, "c", 1);
	return 1;
}
