// libbpf's side of scripts/bench-btf.ts: in a fresh process, load the running kernel's BTF
// with btf__load_vmlinux_btf() and look up task_struct. Prints "<ms> <rss growth KiB> <id>".
// Built at bench time: gcc -O2 scripts/bench-btf-libbpf.c -lbpf (Debian's libbpf-dev).
#include <bpf/btf.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static long rss_kib(void)
{
	long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f || fscanf(f, "%ld %ld", &pages, &resident) != 2)
		exit(1);
	fclose(f);
	return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

int main(void)
{
	struct timespec a, b;
	long before = rss_kib();
	struct btf *btf;
	int id;

	clock_gettime(CLOCK_MONOTONIC, &a);
	btf = btf__load_vmlinux_btf();
	if (!btf)
		return 1;
	id = btf__find_by_name_kind(btf, "task_struct", BTF_KIND_STRUCT);
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("%.3f %ld %d\n", (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6,
	       rss_kib() - before, id);
	btf__free(btf);
	return 0;
}
