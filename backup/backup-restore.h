/* SPDX-License-Identifier: MIT */
/*
 * backup: how a restore checks what it restored. Kept out of backup/backup.h while that
 * header changes for group-consistent backups; it belongs there, as a field of struct
 * backup_restore_params, once both are in.
 *
 * - BACKUP_RESTORE_CHECK_WRITTEN ("written", the default): the volume digest of the
 *   content as it is written, compared at the end with the recorded one. No second pass
 *   over the volume: a sub-block written only in part (never by cairn's own streams) is
 *   read back alone, and a stream out of order makes the whole volume be read back.
 * - BACKUP_RESTORE_CHECK_READBACK ("readback"): once everything is written and flushed,
 *   the restored volume is read back through librbd and its digest computed from what
 *   the cluster returns: it also catches what went wrong in the cluster on the way. It
 *   reads the volume's allocated extents once more: it takes longer.
 * Either way a mismatch is -EILSEQ naming the backup, and a new volume is removed.
 */
#ifndef CAIRN_BACKUP_RESTORE_H
#define CAIRN_BACKUP_RESTORE_H

#include "backup/backup.h"

enum backup_restore_check {
	BACKUP_RESTORE_CHECK_WRITTEN,
	BACKUP_RESTORE_CHECK_READBACK,
	BACKUP_RESTORE_CHECK_MAX,
};
/* "written", "readback"; NULL / -EINVAL */
const char *backup_restore_check_to_string(enum backup_restore_check c);
int backup_restore_check_from_string(const char *s);

/* backup_restore() (which is this with BACKUP_RESTORE_CHECK_WRITTEN), checked as asked. */
int backup_restore_checked(struct cluster *c, const char *id, const struct backup_restore_params *p,
                           enum backup_restore_check check, struct cairn_progress *progress,
                           struct json_object **ret_volume, struct cairn_err *err);

#endif
