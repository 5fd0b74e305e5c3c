/*
 * admin_certs.h — owcp-bridge's administrator listing of the certificates
 * the built-in CA issued (`owcp-bridge certificates [--account A]`).
 */
#ifndef OWCP_BRIDGE_ADMIN_CERTS_H
#define OWCP_BRIDGE_ADMIN_CERTS_H

#include "config.h"

/* Prints the listing (admin_certs.c) of account's certificates (NULL:
 * everybody's) on stdout. 0, or BRIDGE_EXIT_FAILURE with one sentence on
 * stderr. */
int bridge_certificates(const struct bridge_config *cfg, const char *account);

#endif
