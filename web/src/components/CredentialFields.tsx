/** A user name and a password for the sign-in step of a connection test (never stored, never shown again). */
export function CredentialFields(props: { idPrefix: string; user: string; password: string; onUser: (v: string) => void; onPassword: (v: string) => void }) {
  return (
    <>
      <div className="field">
        <label htmlFor={`${props.idPrefix}-user`}>User name</label>
        <input id={`${props.idPrefix}-user`} type="text" value={props.user} onChange={(e) => props.onUser(e.target.value)} autoComplete="off" />
      </div>
      <div className="field">
        <label htmlFor={`${props.idPrefix}-password`}>Password</label>
        <input id={`${props.idPrefix}-password`} type="password" value={props.password} onChange={(e) => props.onPassword(e.target.value)} autoComplete="off" />
      </div>
    </>
  );
}
