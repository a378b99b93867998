/* A program with inlining, for the symbolize tests: built with gcc -O2 at
 * DWARF 4 and 5, with compressed debug sections and without. */
#include <stdio.h>
#include <stdlib.h>

static inline __attribute__((always_inline)) int square(int x)
{
	return x * x + (x > 7 ? abort(), 0 : 0);
}

static inline __attribute__((always_inline)) int sum_squares(int n)
{
	int s = 0;
	for (int i = 0; i < n; i++)
		s += square(i);
	return s;
}

__attribute__((noinline)) int compute(int n)
{
	if (n < 0)
		return -1;
	return sum_squares(n) + 1;
}

int main(int argc, char **argv)
{
	printf("%d\n", compute(argc + 3));
	return 0;
}
