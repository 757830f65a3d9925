/**
 * Bearer tokens for Vertex AI (docs/gemini.md#endpoints-and-keys): a static token when the
 * operator configured one, else Application Default Credentials with the cloud-platform scope.
 * google-auth-library is imported lazily so Gemini-API deployments never load it.
 */

export const CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform";

export interface AccessTokenSource {
  /** A currently valid access token; the ADC client caches and refreshes it itself. */
  token(): Promise<string>;
}

/** Raised when no token can be had; the engine turns it into a ProviderError. */
export class VertexAuthError extends Error {
  constructor(message: string, opts: { cause?: unknown } = {}) {
    super(message, opts);
    this.name = "VertexAuthError";
  }
}

export function staticTokenSource(token: string): AccessTokenSource {
  return { token: async () => token };
}

/** ADC: GOOGLE_APPLICATION_CREDENTIALS, gcloud user credentials, or the metadata server. */
export function adcTokenSource(): AccessTokenSource {
  let client: Promise<{ getAccessToken(): Promise<string | null | undefined> }> | null = null;
  const load = async () => {
    const { GoogleAuth } = await import("google-auth-library");
    return new GoogleAuth({ scopes: [CLOUD_PLATFORM_SCOPE] });
  };
  return {
    async token() {
      client ??= load();
      let token: string | null | undefined;
      try {
        token = await (await client).getAccessToken();
      } catch (err) {
        throw new VertexAuthError(`Vertex credentials unavailable: ${err instanceof Error ? err.message : String(err)}`, {
          cause: err,
        });
      }
      if (!token) throw new VertexAuthError("Vertex credentials returned no access token");
      return token;
    },
  };
}

export function vertexTokenSource(staticToken?: string | null): AccessTokenSource {
  return staticToken ? staticTokenSource(staticToken) : adcTokenSource();
}
