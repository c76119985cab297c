export function BatchDetailsPage(_props: { name?: string | null }) { return <h1>BatchDetailsPage</h1>; }
