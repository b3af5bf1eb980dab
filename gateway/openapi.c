/* Serves the OpenAPI description that the build embedded. */
#include <stdlib.h>
#include <string.h>

#include "gw_openapi.h"
#include "gw_respond.h"

static enum MHD_Result openapi_start(gw_request *req)
{
    /* gw_answer takes ownership of the body; the document is small and
     * rarely asked for, so a copy is simpler than a special case. */
    char *doc = strdup(gw_openapi_json);
    if (doc == NULL)
        return gw_answer_error(req, 500, NULL, NULL, NULL);
    return gw_answer(req, 200, doc, strlen(doc), "application/json; charset=utf-8");
}

const gw_op gw_openapi_op = {.start = openapi_start, .finish = NULL};
