/* psi_match: intersection of two strictly ascending sets of 32-byte values (ABI v1).
 *
 * Args: CBOR map {"set": bstr} whose bytes are the concatenation of strictly
 * ascending 32-byte values. Records: strictly ascending 32-byte values, each
 * either a CBOR byte string of exactly 32 bytes (0x58 0x20 then the value) or
 * a one-entry dataset record {"v": bstr .size 32} (0xA1 0x61 0x76 0x58 0x20
 * then the value), as note_compute.psi publishes doubly-blinded sets.
 * Output: ascending indices of the records whose value is in "set" (a linear
 * merge, O(n + m)); no extra bytes.
 * Error codes: 1 bad args, 2 bad record, 3 not strictly ascending, 4 bad framing,
 * 5 out of memory.
 */
#include "nc_abi.h"

static int cmp32(const u8 *a, const u8 *b) {
    for (u32 i = 0; i < 32; i++)
        if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
    return 0;
}

/* The 32-byte value of a record, or 0 when it has neither accepted form. */
static const u8 *value_of(const u8 *r, u32 rl) {
    if (rl == 34 && r[0] == 0x58 && r[1] == 0x20) return r + 2;
    if (rl == 37 && r[0] == 0xA1 && r[1] == 0x61 && r[2] == 0x76 && r[3] == 0x58 && r[4] == 0x20) return r + 5;
    return 0;
}

NC_EXPORT("nc_run") u64 nc_run(const u8 *p, u32 len) {
    nc_input in;
    if (nc_parse_input(&in, p, len)) return NC_ERROR(4);

    cbor c;
    cb_init(&c, in.args, in.args_len);
    if (cb_map(&c) != 1 || c.err) return NC_ERROR(1);
    u32 kl;
    const u8 *k = cb_string(&c, CB_TEXT, &kl);
    if (c.err || !nc_eq(k, kl, "set")) return NC_ERROR(1);
    u32 set_len;
    const u8 *set = cb_string(&c, CB_BSTR, &set_len);
    if (c.err || c.p != c.end || set_len % 32 != 0) return NC_ERROR(1);
    u32 m = set_len / 32;
    for (u32 j = 1; j < m; j++)
        if (cmp32(set + 32 * (j - 1), set + 32 * j) >= 0) return NC_ERROR(3);

    u8 *out = (u8 *)nc_malloc(8 + 4 * (usize)in.n);
    if (!out) return NC_ERROR(5);
    u32 hits = 0, j = 0;
    const u8 *prev = 0;
    const u8 *cur = in.rec;
    for (u32 i = 0; i < in.n; i++) {
        u32 rl;
        const u8 *r = nc_next_record(&cur, &rl);
        const u8 *v = value_of(r, rl);
        if (!v) return NC_ERROR(2);
        if (prev && cmp32(prev, v) >= 0) return NC_ERROR(3);
        prev = v;
        int d = 1;
        while (j < m && (d = cmp32(set + 32 * j, v)) < 0) j++;
        if (j < m && d == 0) {
            nc_put_u32(out + 4 + 4 * hits, i);
            hits++;
        }
    }
    nc_put_u32(out, hits);
    nc_put_u32(out + 4 + 4 * hits, 0);
    return nc_result(out, 8 + 4 * hits);
}
