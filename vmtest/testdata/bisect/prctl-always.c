// TestBisect's reliable reproducer: prctl option 0x4b4954 on every run,
// then 0x4b4955 (the unrelated crash).
#include <sys/prctl.h>

int main(void)
{
	prctl(0x4b4954, 0, 0, 0, 0);
	prctl(0x4b4955, 0, 0, 0, 0);
	return 0;
}
