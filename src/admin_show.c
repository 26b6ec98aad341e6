/*
 * SHOW views of the admin console (placeholder until the views move here from admin.c).
 */
#include "admin.h"
