/* Stands in for the ELF interpreter: never run. */
void _start(void) { for (;;) ; }
