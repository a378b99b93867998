// The reproducer of TestBisect: prctl option 0x4b4954 ("KIT"), which the
// bisected history makes a NULL dereference, called in about one run of
// three, as the guest's random bytes decide: a flaky reproducer. Then,
// every run, option 0x4b4955, the unrelated crash of the commit before
// the bug.
#include <fcntl.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(void)
{
	unsigned char b = 0;
	int fd = open("/dev/urandom", O_RDONLY);

	if (fd < 0 || read(fd, &b, 1) != 1)
		return 2;
	if (b % 3 == 0)
		prctl(0x4b4954, 0, 0, 0, 0);
	prctl(0x4b4955, 0, 0, 0, 0);
	return 0;
}
