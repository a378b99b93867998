/* A program that needs the libraries it is linked against. */
extern int stub(void);
int main(void) { return stub() == 42 ? 0 : 1; }
