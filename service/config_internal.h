/*
 * config_internal.h — internal to owcp_service (not installed): what
 * config.c (reading files, sections, settings) and config_value.c (the
 * values of each key type) share.
 */
#ifndef OWCP_SERVICE_CONFIG_INTERNAL_H
#define OWCP_SERVICE_CONFIG_INTERNAL_H

#include "owcp/service/config.h"

/* The member at offset in the struct at base. */
void *svc_cfg_member(void *base, size_t offset);

/* Sets key k of the section at base from text v (list keys append);
 * relative paths resolve against dir (may be NULL). 0, or -1 with err
 * saying what is wrong with the value (the caller adds where). */
int svc_cfg_set_value(const struct svc_cfg_key *k, void *base, const char *v,
                      const char *dir, struct owcp_error *err);

/* Frees a list's items and empties it. */
void svc_cfg_list_clear(struct svc_cfg_list *l);

/* Zeroes key k's member without releasing what it held. */
void svc_cfg_key_zero(const struct svc_cfg_key *k, void *base);

/* Releases key k's member and zeroes it. */
void svc_cfg_key_free(const struct svc_cfg_key *k, void *base);

#endif
