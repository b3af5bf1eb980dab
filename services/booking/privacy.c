/* What the booking daemon does for an account under Ley 25.326: ExportUser
 * gives auth everything booking holds about the caller. */
#include "booking.h"
#include "log.h"

/* What one export may hold. The reply travels in one bus message of at
 * most BP_RPC_MAX_MSG (4 MiB): a booking with 1000 characters of notes
 * packs to about 1.6 KB, so 2000 of them stay under 3.5 MB. An account
 * beyond a cap (or a reply beyond the message) is refused whole rather
 * than exported in part. */
#define EXPORT_MAX_BOOKINGS 2000
#define EXPORT_MAX_TIME_OFF 2000
#define EXPORT_MAX_PROFILES 200 /* shops, and provider profiles */
#define EXPORT_MAX_PACKED   (BP_RPC_MAX_MSG - 64u * 1024u)

static int fail_too_large(bp_call *call)
{
    bp_log(BP_LOG_ERROR, bp_call_request_id(call),
           "ExportUser: the account holds more than one export carries");
    return bp_call_fail(call, 500, "export_too_large", NULL,
                        "Los datos de la cuenta superan lo que se puede exportar de una vez.");
}

BOOKING_HANDLER(export_user)
{
    (void)req;
    Bp__Booking__UserData *out = (Bp__Booking__UserData *)resp;
    const char *me = bp_call_user_id(call);
    if (!bp_uuid_valid(me))
        return bp_call_fail(call, 401, "unauthorized", NULL, "Tenés que iniciar sesión.");
    int rv =
        booking_bookings_of_client(call, me, EXPORT_MAX_BOOKINGS, &out->bookings, &out->n_bookings);
    if (rv == 0)
        rv = booking_providers_of_user(call, me, EXPORT_MAX_PROFILES, &out->providers,
                                       &out->n_providers);
    if (rv == 0)
        rv = booking_shops_of_owner(call, me, EXPORT_MAX_PROFILES, &out->shops, &out->n_shops);
    if (rv == 0)
        rv = booking_time_off_of_user(call, me, EXPORT_MAX_TIME_OFF, &out->time_off,
                                      &out->n_time_off);
    if (rv == 0 && protobuf_c_message_get_packed_size(&out->base) > EXPORT_MAX_PACKED)
        rv = BP_ETOOBIG;
    if (rv == BP_ETOOBIG)
        return fail_too_large(call);
    return rv == 0 ? 0 : bp_call_fail_internal(call, rv);
}
