/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* A task's open files, shared by the tracer objects: the struct file behind an fd. */
#ifndef TRACER_FILES_H
#define TRACER_FILES_H

/* The struct file behind fd in the task, or NULL. */
static __always_inline struct file *fd_file(struct task_struct *task, int fd)
{
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **files;
	struct file *f = NULL;

	if (!fdt || fd < 0 || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	files = BPF_CORE_READ(fdt, fd);
	bpf_probe_read_kernel(&f, sizeof(f), &files[fd]);
	return f;
}

#endif
