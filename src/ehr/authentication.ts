/**
 * How kap-bridge proves itself to the EHR: nothing, a static bearer token, or SMART Backend
 * Services (backend-services.ts). The gateway asks for the Authorization header before each
 * request and says when the EHR refused it, so a credential that can be renewed is renewed once.
 */
export interface EhrAuthentication {
  /** The Authorization header for the next request; undefined sends none. */
  authorization(): Promise<string | undefined>;
  /**
   * The EHR answered 401 to a request sent with `authorization`. True when a fresh credential can
   * be had (the refused one is dropped), so that the request is worth one more try.
   */
  refused(authorization: string): boolean;
}

export const noAuthentication: EhrAuthentication = {
  authorization: async () => undefined,
  refused: () => false,
};

/** A token someone else issued: nothing to renew, so a 401 is final. */
export const staticBearer = (token: string): EhrAuthentication => ({
  authorization: async () => `Bearer ${token}`,
  refused: () => false,
});
