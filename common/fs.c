/*
 * NAME
 *	fs 3
 * SUMMARY
 *	free space on the filesystem of a directory
 * SYNOPSIS
 *	#include "common/sg.h"
 *
 *	int	sg_fs_room(dir, bytes)
 * DESCRIPTION
 *	sg_fs_room() stores in *bytes how much this process may still
 *	write on the filesystem that holds dir: the blocks free to anyone
 *	when it runs as root (the reserve is root's), else those free to
 *	other users. smtpd asks at every MAIL FROM whether a message of the
 *	declared size still fits; the queue asks when a commit failed with
 *	EIO whether the disk is full.
 * DIAGNOSTICS
 *	0, or -1 with errno set by statvfs(); *bytes is then left alone.
 */

#include <sys/statvfs.h>
#include <unistd.h>

#include "sg.h"

int	sg_fs_room(const char *dir, uint64_t *bytes)
{
	struct statvfs st;

	if (statvfs(dir, &st) != 0)
		return (-1);
	*bytes = (uint64_t) (geteuid() == 0 ? st.f_bfree : st.f_bavail) * st.f_frsize;
	return (0);
}
