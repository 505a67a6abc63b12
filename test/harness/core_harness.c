// SPDX-License-Identifier: GPL-2.0
/* Differential-test harness over Debian's libbpf. Built at test time:
 *   cc -O1 -o core_harness core_harness.c -lbpf
 *
 * core_harness OBJECT.o TARGET.btf [MAP=MAX_ENTRIES:VALUE_SIZE]...
 *   CO-RE: asks libbpf to relocate the object against TARGET.btf (btf_custom_path), the maps
 *   sized as below (a map libbpf cannot create stops the load before relocation), and prints
 *   libbpf's debug log on stdout, one line per message. The load itself may fail (foreign BTF,
 *   unverifiable fixture): relocation happens before any program load, so the log holds every
 *   decision.
 *
 * core_harness --load OBJECT.o [MAP=MAX_ENTRIES:VALUE_SIZE]...
 *   Load outcome: for each program in turn, opens the object, leaves only that program to
 *   autoload, sizes the named maps (0 keeps the object's value), loads it on the running
 *   kernel and prints
 *     HARNESS: prog NAME errno N        (0: loaded)
 *   and, after the first successful load, each map as the kernel has it:
 *     HARNESS: map NAME type T key K value V max_entries M flags F
 *   and the .kconfig map's value (the kconfig externs' values), in hex:
 *     HARNESS: kconfig HEX
 *   Nothing else is printed (libbpf's log is silenced). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

static int print_all(enum libbpf_print_level level, const char *fmt, va_list args)
{
	(void)level;
	return vfprintf(stdout, fmt, args);
}

static int print_none(enum libbpf_print_level level, const char *fmt, va_list args)
{
	(void)level;
	(void)fmt;
	(void)args;
	return 0;
}

static int size_maps(struct bpf_object *obj, int n, char **sizes);

static int core(const char *object, const char *target, int nsizes, char **sizes)
{
	struct bpf_object *obj;
	int err;

	libbpf_set_print(print_all);
	LIBBPF_OPTS(bpf_object_open_opts, opts, .btf_custom_path = target);
	obj = bpf_object__open_file(object, &opts);
	if (!obj) {
		printf("HARNESS: open failed\n");
		return 1;
	}
	err = size_maps(obj, nsizes, sizes);
	if (err) {
		printf("HARNESS: bad map size argument (%d)\n", err);
		return 1;
	}
	err = bpf_object__load(obj);
	printf("HARNESS: load %s (%d)\n", err ? "failed" : "ok", err);
	bpf_object__close(obj);
	fflush(stdout);
	return 0;
}

static int size_maps(struct bpf_object *obj, int n, char **sizes)
{
	for (int i = 0; i < n; i++) {
		char name[256];
		unsigned max_entries, value_size;
		if (sscanf(sizes[i], "%255[^=]=%u:%u", name, &max_entries, &value_size) != 3)
			return -EINVAL;
		struct bpf_map *m = bpf_object__find_map_by_name(obj, name);
		if (!m)
			return -ENOENT;
		if (max_entries && bpf_map__set_max_entries(m, max_entries))
			return -EINVAL;
		if (value_size && bpf_map__set_value_size(m, value_size))
			return -EINVAL;
	}
	return 0;
}

static void print_maps(struct bpf_object *obj)
{
	struct bpf_map *m;
	bpf_object__for_each_map(m, obj) {
		struct bpf_map_info info = {};
		__u32 len = sizeof(info);
		if (bpf_obj_get_info_by_fd(bpf_map__fd(m), &info, &len))
			continue;
		printf("HARNESS: map %s type %u key %u value %u max_entries %u flags %u\n",
		       bpf_map__name(m), info.type, info.key_size, info.value_size,
		       info.max_entries, info.map_flags);
		const char *name = bpf_map__name(m);
		size_t nlen = strlen(name);
		if (nlen >= 8 && strcmp(name + nlen - 8, ".kconfig") == 0) {
			unsigned char value[4096];
			__u32 key = 0;
			if (info.value_size > sizeof(value) ||
			    bpf_map_lookup_elem(bpf_map__fd(m), &key, value))
				continue;
			printf("HARNESS: kconfig ");
			for (__u32 i = 0; i < info.value_size; i++)
				printf("%02x", value[i]);
			printf("\n");
		}
	}
}

static int load_each(const char *object, int nsizes, char **sizes)
{
	int maps_printed = 0;
	libbpf_set_print(print_none);
	for (int idx = 0;; idx++) {
		struct bpf_object *obj = bpf_object__open_file(object, NULL);
		struct bpf_program *p, *mine = NULL;
		int i = 0, err;

		if (!obj) {
			printf("HARNESS: open failed\n");
			return 1;
		}
		bpf_object__for_each_program(p, obj) {
			if (i++ == idx)
				mine = p;
			else
				bpf_program__set_autoload(p, false);
		}
		if (!mine) {
			bpf_object__close(obj);
			break;
		}
		bpf_program__set_autoload(mine, true);
		err = size_maps(obj, nsizes, sizes);
		if (err) {
			printf("HARNESS: bad map size argument (%d)\n", err);
			return 1;
		}
		err = bpf_object__load(obj);
		printf("HARNESS: prog %s errno %d\n", bpf_program__name(mine), err < 0 ? -err : 0);
		if (!err && !maps_printed) {
			print_maps(obj);
			maps_printed = 1;
		}
		bpf_object__close(obj);
	}
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "--load") == 0)
		return load_each(argv[2], argc - 3, argv + 3);
	if (argc < 3) {
		fprintf(stderr, "usage: %s OBJECT.o TARGET.btf [MAP=MAX:VALUE]... | "
			"--load OBJECT.o [MAP=MAX:VALUE]...\n", argv[0]);
		return 2;
	}
	return core(argv[1], argv[2], argc - 3, argv + 3);
}
