// A reproducer that never crashes.
#include <stdio.h>

int main(void)
{
	printf("nothing to see\n");
	return 0;
}
