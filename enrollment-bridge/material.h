/*
 * material.h — the keys and secrets owcp-bridge's configuration names,
 * loaded and checked once at start (and by `owcp-bridge check`): the RA
 * certificate and its key ([otpce] ra_cert, ra_key: they must match), the
 * RADIUS shared secret ([radius] secret_file) and the RADIUS client
 * configuration built from [radius]. Errors name file:line:key.
 */
#ifndef OWCP_BRIDGE_MATERIAL_H
#define OWCP_BRIDGE_MATERIAL_H

#include "context.h"

/* Fills *out for the enabled fronts of cfg (which must outlive it).
 * 0, or -1 with err (out then released). */
int bridge_material_load(const struct bridge_config *cfg,
                         struct bridge_material *out, struct owcp_error *err);

/* Releases and wipes what *m holds; zeroes it. */
void bridge_material_free(struct bridge_material *m);

#endif
