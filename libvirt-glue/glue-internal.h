/* SPDX-License-Identifier: MIT */
/* libvirt-glue internals shared between its .c files (not part of the public header). */
#ifndef CAIRN_LIBVIRT_GLUE_INTERNAL_H
#define CAIRN_LIBVIRT_GLUE_INTERNAL_H

#include <libxml/tree.h>

#include "libvirt-glue/libvirt-glue.h"

/* Largest XML or JSON document this folder parses. */
#define GLUE_DOC_MAX (16u * 1024 * 1024)

/* An IPv4/IPv6 literal (no brackets) or a DNS name; what names it in the message. */
int glue__host_validate(const char *name, const char *what, struct cairn_err *err);

/* Parse an XML document without network access, DTD loading or entity expansion. */
int glue__xml_parse(const char *xml, const char *what, xmlDocPtr *ret_doc, struct cairn_err *err);

/*
 * Record a failed libvirt call: "<what>: <libvirt's message>", with libvirt's error number
 * mapped to an errno (no domain -> ENOENT, ...) or fallback.
 */
int glue__virt_err(struct cairn_err *err, int fallback, const char *fmt, ...) _printf_(3, 4);

static inline void xml_free_docp(xmlDocPtr *doc)
{
	if (*doc)
		xmlFreeDoc(*doc);
}

#endif
