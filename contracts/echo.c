/* echo: the test contract (ABI v1).
 *
 * Output: every record index in order (0 .. n_records-1) and, as extra
 * bytes, the args bytes unchanged. Exercises the whole input/output path.
 * Error codes: 4 bad framing, 5 out of memory.
 */
#include "nc_abi.h"

NC_EXPORT("nc_run") u64 nc_run(const u8 *p, u32 len) {
    nc_input in;
    if (nc_parse_input(&in, p, len)) return NC_ERROR(4);
    usize size = 8 + 4 * (usize)in.n + in.args_len;
    u8 *out = (u8 *)nc_malloc(size);
    if (!out) return NC_ERROR(5);
    nc_put_u32(out, in.n);
    for (u32 i = 0; i < in.n; i++) nc_put_u32(out + 4 + 4 * i, i);
    nc_put_u32(out + 4 + 4 * in.n, in.args_len);
    memcpy(out + 8 + 4 * in.n, in.args, in.args_len);
    return nc_result(out, (u32)size);
}
