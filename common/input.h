/* Normalising what people type, the same in every daemon: emails, phone
 * numbers and free text (names, addresses). Pure functions; a refusal
 * comes with a static Spanish reason for the 400 answer naming the field. */
#ifndef BP_INPUT_H
#define BP_INPUT_H

#include <stdbool.h>
#include <stddef.h>

/* ASCII classes, independent of the process locale. */
static inline bool bp_ascii_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static inline bool bp_ascii_lower(unsigned char c)
{
    return c >= 'a' && c <= 'z';
}

static inline unsigned char bp_ascii_to_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

/* Longest normalised email (RFC 5321 path limit) and its buffer size. */
#define BP_EMAIL_MAX  254
#define BP_EMAIL_SIZE (BP_EMAIL_MAX + 1)
/* E.164: '+' and at most 15 digits, and the NUL. */
#define BP_PHONE_SIZE 17

/* Trims surrounding white space, lowercases and checks the structure of an
 * email (one '@', a dot-atom local part of at most 64 bytes, a domain of at
 * least two labels). Writes the result into out (len >= BP_EMAIL_SIZE).
 * Returns 0, or BP_EINVAL with *why set to a static Spanish message. */
int bp_email_normalize(const char *in, char *out, size_t len, const char **why);

/* Normalises a phone number to E.164. Argentine input in any usual form
 * (11 2345-6789, 011 15 2345-6789, (011) 15-2345-6789, +54 9 11 2345-6789,
 * +54 11 2345 6789, 0054 ...) becomes the mobile form +549 followed by the
 * ten national digits; another country's number must already be E.164 (a
 * leading + or 00) and is kept as is. Writes into out (len >=
 * BP_PHONE_SIZE). Returns 0, or BP_EINVAL with *why set. */
int bp_phone_normalize(const char *in, char *out, size_t len, const char **why);

/* Trims surrounding white space from a name, address or other short text
 * and checks it: valid UTF-8 without control characters, 1 to max_chars
 * characters. Writes into out (len bytes; 4 * max_chars + 1 always
 * suffice). Returns 0, or BP_EINVAL with *why set (empty, invalid
 * characters, too long). */
int bp_text_normalize(const char *in, size_t max_chars, char *out, size_t len, const char **why);

#endif
