/* One source for every stub library: the tests only read ELF headers. */
int stub(void) { return 42; }
