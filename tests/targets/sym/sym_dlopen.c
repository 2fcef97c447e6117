// SPDX-License-Identifier: MIT
/* Symbolization target: maps libz only when told to (a line on stdin), so that a refresh must
 * discover a library that appeared after the symbolizer was created. */
#include <dlfcn.h>
#include <stdio.h>
#include <unistd.h>

int main(void)
{
	char line[16];
	void *h;

	printf("ready\n");
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	h = dlopen("libz.so.1", RTLD_NOW);
	printf("%s\n", h ? "loaded" : "failed");
	fflush(stdout);
	for (;;)
		pause();
}
