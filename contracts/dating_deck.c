/* dating_deck: the cards of a dating directory that share enough interests (ABI v1).
 *
 * Records: canonical CBOR maps (a user's public card); the key "interests"
 * holds an array of text strings (other keys are skipped; a card without it
 * shares nothing). Args: CBOR map with "interests" (array of at most 32 text
 * strings) and optionally "min_shared" (uint, default 1).
 * Output: ascending indices of the cards holding at least min_shared of the
 * given interests (exact byte equality: the app lower-cases them); no extra.
 * The age range and the region are the dataset's sort key (region, age, id),
 * so the client asks for a key range and the ring proves it complete.
 * Error codes: 1 bad args, 2 bad record, 3 out of memory, 4 bad framing.
 */
#include "nc_abi.h"

#define MAX_WANT 32

typedef struct { const u8 *s; u32 n; } str;

NC_EXPORT("nc_run") u64 nc_run(const u8 *p, u32 len) {
    nc_input in;
    if (nc_parse_input(&in, p, len)) return NC_ERROR(4);

    str want[MAX_WANT];
    u32 nwant = 0;
    u64 min_shared = 1;
    int have_interests = 0;
    cbor c;
    cb_init(&c, in.args, in.args_len);
    u32 pairs = cb_map(&c);
    if (c.err || pairs < 1 || pairs > 2) return NC_ERROR(1);
    for (u32 k = 0; k < pairs; k++) {
        u32 kl;
        const u8 *key = cb_text(&c, &kl);
        if (c.err) return NC_ERROR(1);
        if (nc_eq(key, kl, "interests") && !have_interests) {
            u64 n;
            if (cb_head(&c, &n) != CB_ARRAY || n > MAX_WANT) return NC_ERROR(1);
            for (u32 i = 0; i < (u32)n; i++) {
                want[i].s = cb_text(&c, &want[i].n);
                if (c.err) return NC_ERROR(1);
            }
            nwant = (u32)n;
            have_interests = 1;
        } else if (nc_eq(key, kl, "min_shared")) {
            min_shared = cb_uint(&c);
            if (c.err) return NC_ERROR(1);
        } else {
            return NC_ERROR(1);
        }
    }
    if (c.p != c.end || !have_interests) return NC_ERROR(1);

    u8 *out = (u8 *)nc_malloc(8 + 4 * (usize)in.n);
    if (!out) return NC_ERROR(3);
    u32 hits = 0;
    const u8 *cur = in.rec;
    for (u32 i = 0; i < in.n; i++) {
        u32 rl;
        const u8 *r = nc_next_record(&cur, &rl);
        cbor rc;
        cb_init(&rc, r, rl);
        u32 entries = cb_map(&rc);
        if (rc.err) return NC_ERROR(2);
        u64 shared = 0;
        for (u32 e = 0; e < entries; e++) {
            u32 kl;
            const u8 *key = cb_text(&rc, &kl);
            if (rc.err) return NC_ERROR(2);
            if (!nc_eq(key, kl, "interests")) {
                cb_skip_item(&rc);
                if (rc.err) return NC_ERROR(2);
                continue;
            }
            u64 n;
            if (cb_head(&rc, &n) != CB_ARRAY || n > (u64)(rc.end - rc.p)) return NC_ERROR(2);
            for (u64 t = 0; t < n; t++) {
                u32 tl;
                const u8 *tx = cb_text(&rc, &tl);
                if (rc.err) return NC_ERROR(2);
                for (u32 w = 0; w < nwant; w++)
                    if (want[w].n == tl && nc_memeq(want[w].s, tx, tl)) { shared++; break; }
            }
        }
        if (rc.p != rc.end) return NC_ERROR(2);
        if (shared >= min_shared) {
            nc_put_u32(out + 4 + 4 * hits, i);
            hits++;
        }
    }
    nc_put_u32(out, hits);
    nc_put_u32(out + 4 + 4 * hits, 0);
    return nc_result(out, 8 + 4 * hits);
}
