// A real OpenID Connect provider (panva/oidc-provider) for LossLens's sign-in browser tests.
// Usage: node provider.mjs PORT REDIRECT_URI
// One confidential client "losslens" (secret "losslens-test-secret"). Its development login form
// takes any login and password: "ann" signs in as ann@example.com named "Ann"; a login that is an
// e-mail ("eve@other.org") signs in with that address.
import Provider from "oidc-provider";

const [port, redirectUri] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;

const account = (id) => ({
  accountId: id,
  async claims() {
    const local = id.split("@")[0];
    const email = id.includes("@") ? id : `${id}@example.com`;
    return { sub: id, email, email_verified: true, name: local.charAt(0).toUpperCase() + local.slice(1) };
  },
});

const provider = new Provider(issuer, {
  clients: [{
    client_id: "losslens",
    client_secret: "losslens-test-secret",
    redirect_uris: [redirectUri],
    post_logout_redirect_uris: [redirectUri],   // Streamlit returns there after st.logout
    grant_types: ["authorization_code"],
    response_types: ["code"],
  }],
  claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
  conformIdTokenClaims: false,   // name and e-mail in the ID token, where Streamlit reads them
  findAccount: (ctx, id) => account(id),
  pkce: { required: () => false },
  features: { devInteractions: { enabled: true } },
});
provider.proxy = false;
provider.listen(Number(port), "127.0.0.1", () => console.log(`oidc provider ready at ${issuer}`));
