/* The client's address behind proxies. X-Forwarded-For is believed only as
 * far as it was written by proxies we trust (TRUSTED_PROXIES): anybody can
 * send the header, so an untrusted peer's is ignored, and in a trusted
 * peer's the client is the rightmost entry that is not itself a trusted
 * proxy. Nobody escapes a rate limit by inventing an address. */
#ifndef GW_FORWARDED_H
#define GW_FORWARDED_H

#include <stdbool.h>
#include <stddef.h>

#define GW_TRUSTED_MAX 64 /* CIDRs in TRUSTED_PROXIES */
#define GW_ADDR_MAX    64 /* room for any IPv4 or IPv6 text form */

/* Parses TRUSTED_PROXIES: comma-separated addresses or CIDRs, IPv4 or IPv6
 * ("10.0.0.0/8, 172.28.0.10, ::1/128"); "" trusts nobody. Replaces the
 * current list; call before the server starts. Returns 0, or BP_EINVAL
 * (the list is then empty). */
int gw_trusted_configure(const char *list);

/* True when the address text (IPv4, IPv6 or IPv4-mapped IPv6) falls in a
 * trusted CIDR. */
bool gw_trusted(const char *addr);

/* The client's address, written into out (size >= GW_ADDR_MAX): peer when
 * peer is not trusted or xff is NULL; otherwise the rightmost entry of xff
 * (comma-separated, blanks allowed: every X-Forwarded-For line of the
 * request joined with commas, in order) that is not a trusted proxy, or the leftmost when all are
 * trusted. An entry that is not an IP address ends the walk: the address written is then the last
 * one we could believe (the peer, or the entry to its right). IPv4-mapped IPv6 addresses are
 * written as IPv4. */
void gw_client_address(const char *peer, const char *xff, char *out, size_t size);

/* The rate-limit subject of a client address: "ip:<IPv4>", or for IPv6
 * "ip:<the /64 prefix>/64", since one subscriber holds a whole /64. Writes
 * into out (size >= GW_ADDR_MAX + 8); an unparsable address is used as is. */
void gw_address_subject(const char *addr, char *out, size_t size);

#endif
