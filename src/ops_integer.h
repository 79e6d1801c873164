/* ops_integer.h — what ops_integer.c shares with the tests: the plain
 * reference kernel of nl_int_binary's ops. */
#ifndef NL_OPS_INTEGER_H
#define NL_OPS_INTEGER_H

#include "nnlua.h"

/* o = a op b, op NL_OP_BITWISE_AND .. NL_OP_LCM, one element at a time in
 * a serial loop; o contiguous int64 of the broadcast shape of a and b
 * (int64 too), nothing checked */
void nl_int_binary_ref(int op, nl_tensor *o, nl_tensor *a, nl_tensor *b);

#endif
