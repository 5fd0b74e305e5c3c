/*
 * outbox_hosts.h — what the DR-Complete sender knows about each
 * destination (host:port): deliveries in flight there, consecutive
 * transport failures and the backoff they earned. A destination that keeps
 * failing is backed off as a whole (1 s doubling to 10 min) and then
 * probed one delivery at a time, so one Completion URI that never answers
 * costs the other requestors nothing. The table belongs to the sender
 * thread alone (outbox.c): no locking; each process backs off on its own.
 */
#ifndef OWCP_DISPATCHER_OUTBOX_HOSTS_H
#define OWCP_DISPATCHER_OUTBOX_HOSTS_H

#include <stddef.h>
#include <stdint.h>

#define OUTBOX_HOST_KEY_MAX 300

/* One destination. */
struct outbox_host {
  char key[OUTBOX_HOST_KEY_MAX];
  unsigned in_flight;
  unsigned failures;        /* consecutive transport failures */
  int64_t backoff_until_ms; /* no new delivery before (monotonic ms) */
};

/* The table; zero-initialised is empty. */
struct outbox_hosts {
  struct outbox_host *v;
  size_t n, cap;
};

/* The entry for key, or NULL (borrowed from the table until it changes). */
struct outbox_host *outbox_host_find(struct outbox_hosts *t, const char *key);

/* The entry for key, created when new; NULL when memory runs out. */
struct outbox_host *outbox_host_get(struct outbox_hosts *t, const char *key);

/* Forgets destinations with nothing in flight, no failures and no backoff
 * left, so the table holds only what matters now (invalidates entry
 * pointers). Returns how many are backed off at `now`. */
size_t outbox_hosts_prune(struct outbox_hosts *t, int64_t now_ms);

/* Deliveries the destination may take now: none while backed off, one (a
 * probe) while it has been failing, else per_host minus those in flight. */
unsigned outbox_host_slots(const struct outbox_host *h, unsigned per_host,
                           int64_t now_ms);

/* A transport failure at now_ms (why: for the log): backs the destination
 * off, unless a delivery that ran beside this one already did. */
void outbox_host_failed(struct outbox_host *h, int64_t now_ms, const char *why);

/* An HTTP answer: the destination works again. */
void outbox_host_answered(struct outbox_host *h);

/* Frees the table's memory (the struct itself is the caller's). */
void outbox_hosts_free(struct outbox_hosts *t);

#endif
