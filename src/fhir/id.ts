/**
 * A FHIR id (the R4 `id` datatype: 1-64 letters, digits, "-" and ".") as it may stand in a URL path:
 * "." and ".." fit the datatype but would move the URL instead of naming a resource, so they are no
 * id anywhere kap-bridge puts one in a path or reads one from it.
 */
export const PATH_ID_PATTERN = '^(?!\\.{1,2}$)[A-Za-z0-9\\-.]{1,64}$';
export const PATH_ID = new RegExp(PATH_ID_PATTERN);
