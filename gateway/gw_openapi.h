/* GET /api/openapi.json: the OpenAPI 3.1 description of this gateway,
 * gateway/openapi.yaml turned into JSON at build time. */
#ifndef GW_OPENAPI_H
#define GW_OPENAPI_H

#include "gw_request.h"

/* The document, compact JSON (generated into build/gen/openapi_json.c). */
extern const char gw_openapi_json[];

/* The op of GET /api/openapi.json. */
extern const gw_op gw_openapi_op;

#endif
