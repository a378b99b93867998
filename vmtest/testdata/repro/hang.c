#include <signal.h>
#include <unistd.h>
/* Stops every other process (the heartbeat too) and says nothing: to the
   host, a guest that hangs. */
int main(void) {
	kill(-1, SIGSTOP);
	for (;;) pause();
}
